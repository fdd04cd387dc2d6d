"""Judge.grade over real HTTP: the nim client against the loopback simulator (no mocks)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from fieldkit.eval import RUBRIC_CORRECTNESS, RUBRIC_FAITHFULNESS, Judge, JudgeError
from fieldkit.nim import NIMClient
from fieldkit.testing import Fault

if TYPE_CHECKING:
    from fieldkit.testing import NIMSimulator


@pytest.fixture
def client(simulator: NIMSimulator) -> Iterator[NIMClient]:
    with NIMClient(simulator.base_url, simulator.model, backoff_base=0.01, backoff_max=0.02) as c:
        yield c


def _chat_bodies(sim: NIMSimulator) -> list[dict[str, object]]:
    return [r.json for r in sim.requests if r.path.endswith("/chat/completions")]


def test_documented_example(simulator: NIMSimulator) -> None:
    simulator.set_chat_reply('{"score": 5, "rationale": "matches the reference"}')
    with NIMClient(base_url=simulator.base_url, model="meta/llama-3.1-8b-instruct") as c:
        judge = Judge.builtin(c, "correctness")
        result = judge.grade(
            question="How much unified memory does the Spark have?",
            prediction="128 GB",
            reference="128 GB",
        )
    assert (result.score, result.rationale) == (5.0, "matches the reference")


def test_grade_round_trip(simulator: NIMSimulator, client: NIMClient) -> None:
    simulator.set_chat_reply('{"score": 4, "rationale": "close enough"}')
    res = Judge(client).grade(prediction="P", question="Q?", reference="R")
    assert (res.score, res.rationale) == (4.0, "close enough")
    (body,) = _chat_bodies(simulator)
    assert body["max_tokens"] == 160 and body["temperature"] == 0.0
    msgs = body["messages"]
    assert isinstance(msgs, list)
    assert msgs[0] == {"role": "system", "content": RUBRIC_CORRECTNESS}
    assert "0-5 scale" in msgs[0]["content"]
    assert msgs[1]["role"] == "user"
    assert msgs[1]["content"] == "Question: Q?\nReference answer: R\nPredicted answer: P\n\nGrade:"


def test_faithfulness_sends_context(simulator: NIMSimulator, client: NIMClient) -> None:
    simulator.set_chat_reply('```json\n{"score": 0.5, "rationale": "some"}\n```')
    judge = Judge.builtin(client, "faithfulness", max_tokens=64)
    res = judge.grade(prediction="P", context="the Spark has 128 GB")
    assert res.score == 0.5
    (body,) = _chat_bodies(simulator)
    user = body["messages"][1]["content"]  # type: ignore[index]
    assert user == "Context passages:\n\nthe Spark has 128 GB\nPredicted answer: P\n\nGrade:"
    assert (
        body["messages"][0]["content"] is RUBRIC_FAITHFULNESS
        or body["messages"][0]["content"] == RUBRIC_FAITHFULNESS
    )  # type: ignore[index]
    assert body["max_tokens"] == 64


def test_unparseable_reply_is_none(simulator: NIMSimulator, client: NIMClient) -> None:
    simulator.set_chat_reply("I would rather not grade this.")
    res = Judge(client).grade(prediction="P", reference="R")
    assert res.score is None and res.raw == "I would rather not grade this."


def test_out_of_scale_score_is_none(simulator: NIMSimulator, client: NIMClient) -> None:
    simulator.set_chat_reply('{"score": 9, "rationale": "very good"}')
    assert Judge(client).grade(prediction="P", reference="R").score is None
    simulator.set_chat_reply("Score: 8/10")
    assert Judge(client).grade(prediction="P", reference="R").score == 4.0
    simulator.set_chat_reply('{"score": 3, "rationale": "x"}')
    assert Judge.builtin(client, "relevance").grade(prediction="P", question="Q").score is None


def test_http_400_is_judge_error(simulator: NIMSimulator, client: NIMClient) -> None:
    simulator.enqueue(400)
    with pytest.raises(JudgeError, match="judge call failed"):
        Judge(client).grade(prediction="P", reference="R")
    assert len(_chat_bodies(simulator)) == 1  # 400 is never retried


def test_retries_come_from_the_client(simulator: NIMSimulator, client: NIMClient) -> None:
    simulator.enqueue(503, 503)
    simulator.set_chat_reply('{"score": 2, "rationale": "r"}')
    assert Judge(client).grade(prediction="P", reference="R").score == 2.0
    assert len(_chat_bodies(simulator)) == 3


def test_exhausted_retries_are_judge_error(simulator: NIMSimulator) -> None:
    simulator.enqueue(503, 503)
    with (
        NIMClient(simulator.base_url, simulator.model, max_retries=1, backoff_base=0.01) as c,
        pytest.raises(JudgeError, match="judge call failed"),
    ):
        Judge(c).grade(prediction="P", reference="R")


def test_missing_content_is_judge_error(simulator: NIMSimulator, client: NIMClient) -> None:
    simulator.enqueue(Fault(status=200, body={"choices": []}))
    with pytest.raises(JudgeError, match="judge response missing content"):
        Judge(client).grade(prediction="P", reference="R")


def test_null_content_is_empty(simulator: NIMSimulator, client: NIMClient) -> None:
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]}
    simulator.enqueue(Fault(status=200, body=body))
    res = Judge(client).grade(prediction="P", reference="R")
    assert res.score is None and res.raw == ""


def test_builtin_and_required_fields(client: NIMClient) -> None:
    with pytest.raises(ValueError, match="unknown rubric"):
        Judge.builtin(client, "vibes")
    with pytest.raises(
        ValueError,
        match=r"unknown rubric 'vibes'; available: \['correctness', "
        r"'faithfulness', 'relevance'\]",
    ):
        Judge.builtin(client, "vibes")
    with pytest.raises(ValueError, match="reference="):
        Judge(client).grade(prediction="P")
    with pytest.raises(ValueError, match="context="):
        Judge.builtin(client, "faithfulness").grade(prediction="P")
    with pytest.raises(ValueError, match="question="):
        Judge.builtin(client, "relevance").grade(prediction="P")


def test_custom_rubric_grades_anything(simulator: NIMSimulator, client: NIMClient) -> None:
    simulator.set_chat_reply(lambda req: json.dumps({"score": 42, "rationale": "custom"}))
    res = Judge(client, rubric="Grade 0-100. JSON please.").grade(prediction="P")
    assert res.score == 42.0


def test_judges_in_a_bench_share_one_client(simulator: NIMSimulator, client: NIMClient) -> None:
    from fieldkit.eval import Bench

    simulator.set_chat_reply(lambda req: '{"score": 3, "rationale": "ok"}')
    judge = Judge(client)

    def grade(pred: str) -> dict[str, object]:
        r = judge.grade(prediction=pred, reference="R")
        return {"score": r.score}

    b = Bench("judge", metrics=["score"]).run(grade, [f"p{i}" for i in range(8)], concurrency=4)
    assert [c.metrics["score"] for c in b.calls] == [3.0] * 8
    assert b.summary()["score"]["mean"] == 3.0
