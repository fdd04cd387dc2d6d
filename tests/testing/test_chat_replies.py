"""``NIMSimulator.set_chat_replies``: fixed replies served in order, then *then* or HTTP 500."""

from __future__ import annotations

import pytest

from fieldkit.nim import NIMClient, NIMServerError
from fieldkit.testing import NIMSimulator


def _ask(client: NIMClient) -> str:
    reply = client.chat([{"role": "user", "content": "next"}], max_tokens=64)
    content = reply["choices"][0]["message"]["content"]
    assert isinstance(content, str)
    return content


def test_replies_are_replayed_in_order_then_exhausted(simulator: NIMSimulator) -> None:
    simulator.set_chat_replies(["one", "two"])
    assert simulator.pending_replies == 2
    with NIMClient(simulator.base_url, simulator.model, max_retries=0) as client:
        assert [_ask(client), _ask(client)] == ["one", "two"]
        assert simulator.pending_replies == 0
        with pytest.raises(NIMServerError, match="exhausted"):
            _ask(client)


def test_then_answers_after_the_script_and_reset_clears_it(simulator: NIMSimulator) -> None:
    simulator.set_chat_replies(["first"], then="later")
    with NIMClient(simulator.base_url, simulator.model, max_retries=0) as client:
        assert [_ask(client), _ask(client), _ask(client)] == ["first", "later", "later"]
        simulator.set_chat_replies(["x", "y"])
        simulator.reset()
        assert simulator.pending_replies == 0
        assert _ask(client) != "x"
    with pytest.raises(TypeError, match="iterable of str"):
        simulator.set_chat_replies([1])  # type: ignore[list-item]
