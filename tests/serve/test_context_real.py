"""`ctx="auto"` and `--kv-dtype` against the real llama-server: our KV size is the one the
server reports for itself; api keys and passed-through flags reach it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from fieldkit.serve import LocalServer, default_model
from fieldkit.serve._context import kv_cache_bytes
from fieldkit.serve._gguf_shape import read_gguf_shape


@pytest.mark.parametrize(("ctx", "kv_dtype"), [("auto", "f16"), (3000, "q8_0"), (1024, "q4_0")])
def test_kv_size_matches_the_servers_own_buffer(
    tmp_path: Path, ctx: int | str, kv_dtype: str
) -> None:
    log = tmp_path / "server.log"
    with LocalServer(ctx=ctx, kv_dtype=kv_dtype, threads=1, log_path=log) as server:  # type: ignore[arg-type]
        assert server.context_plan is not None and server.log_facts is not None
        ours = server.context_plan.kv_bytes
        if ctx == "auto":
            assert server.context_window == 8192  # SmolLM2's trained context fits here
        assert server.log_facts.offloaded is None  # CPU build: no offload line
    shape = read_gguf_shape(default_model())
    n = 8192 if ctx == "auto" else int(ctx)
    assert ours == kv_cache_bytes(shape, n, kv_dtype)
    text = log.read_text()
    m = re.search(r"CPU KV buffer size = +([\d.]+) MiB", text)
    assert m is not None, text[-2000:]
    # The server prints MiB with two decimals; ours formatted the same way is the same string.
    assert f"{ours / (1 << 20):.2f}" == m.group(1)
    assert server.log_facts.kv_mib == float(m.group(1))
    cells = re.search(r"llama_kv_cache: size = .*\( *(\d+) cells", text)
    assert cells is not None and int(cells.group(1)) == ours // (
        kv_cache_bytes(shape, 256, kv_dtype) // 256
    )


def test_api_key_and_passthrough(tmp_path: Path) -> None:
    with LocalServer(
        ctx=512, threads=1, api_key="sesame", extra_args=["--metrics"], log_path=tmp_path / "l"
    ) as server:
        root = server.base_url.removesuffix("/v1")
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        denied = httpx.post(server.base_url + "/chat/completions", json=body, timeout=30)
        assert denied.status_code == 401
        allowed = httpx.post(
            server.base_url + "/chat/completions",
            json=body,
            headers={"Authorization": "Bearer sesame"},
            timeout=60,
        )
        assert allowed.status_code == 200
        metrics = httpx.get(root + "/metrics", headers={"Authorization": "Bearer sesame"})
        assert metrics.status_code == 200 and "llamacpp:" in metrics.text
        with server.client() as client:  # the client carries the key
            assert client.chat([{"role": "user", "content": "hi"}], max_tokens=2)["choices"]


def test_ipv6_loopback_host(tmp_path: Path) -> None:
    """``host="::1"`` is loopback (no key needed) and is served and reached over IPv6."""
    with LocalServer(host="::1", ctx=512, threads=1, log_path=tmp_path / "l") as server:
        assert server.base_url.startswith("http://[::1]:")
        with server.client() as client:
            assert client.chat([{"role": "user", "content": "hi"}], max_tokens=2)["choices"]


def test_a_reused_log_gives_the_facts_of_this_start_alone(tmp_path: Path) -> None:
    """The log file is appended to across starts; the KV size read back is this start's, not
    the sum over every start the file has seen."""
    log = tmp_path / "server.log"
    sizes = []
    for _ in range(2):
        with LocalServer(ctx=512, threads=1, log_path=log) as server:
            assert server.log_facts is not None
            sizes.append(server.log_facts.kv_mib)
    assert log.read_text().count("CPU KV buffer size") == 2
    assert sizes[0] == sizes[1] == round(kv_cache_bytes(read_gguf_shape(default_model()), 512)
                                         / (1 << 20), 2)  # fmt: skip
