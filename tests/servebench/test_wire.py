"""The lean transport's HTTP/1.1 response framing: round trips over any split, and only
``WireError`` for malformed bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.servebench._wire import MAX_HEAD_BYTES, ResponseReader, WireError

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"


def _chunked(body: bytes, sizes: list[int]) -> bytes:
    out, i = [], 0
    for size in sizes:
        piece = body[i : i + size]
        if not piece:
            break
        out.append(f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n")
        i += len(piece)
    if i < len(body):
        out.append(f"{len(body) - i:X}\r\n".encode() + body[i:] + b"\r\n")
    return b"".join(out) + b"0\r\nX-Trailer: y\r\n\r\n"


def _feed(raw: bytes, cuts: list[int]) -> tuple[ResponseReader, bytes]:
    reader, body, start = ResponseReader(), b"", 0
    for cut in [*sorted({c % (len(raw) + 1) for c in cuts}), len(raw)]:
        reader.feed(raw[start:cut])
        body += b"".join(reader.take_body())
        start = cut
    return reader, body


@settings(max_examples=300)
@given(
    body=st.binary(max_size=600),
    sizes=st.lists(st.integers(1, 80), max_size=20),
    cuts=st.lists(st.integers(0, 10_000), max_size=30),
)
def test_chunked_body_survives_any_split(body: bytes, sizes: list[int], cuts: list[int]) -> None:
    raw = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body, sizes)
    reader, got = _feed(raw, cuts)
    assert reader.done and reader.keep_alive
    assert got == body
    assert reader.head is not None and reader.head.status == 200


@settings(max_examples=200)
@given(body=st.binary(max_size=400), cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_content_length_body_survives_any_split(body: bytes, cuts: list[int]) -> None:
    raw = HEAD + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    reader, got = _feed(raw, cuts)
    assert reader.done and got == body


@settings(max_examples=300)
@given(st.binary(max_size=300), st.lists(st.integers(0, 400), max_size=8))
def test_arbitrary_bytes_raise_only_wire_error(raw: bytes, cuts: list[int]) -> None:
    for prefix in (b"", HEAD + b"Transfer-Encoding: chunked\r\n\r\n"):
        try:
            reader, _ = _feed(prefix + raw, cuts)
            reader.end()
        except WireError:
            pass


def test_close_framed_body_ends_with_the_connection() -> None:
    reader = ResponseReader()
    reader.feed(b"HTTP/1.0 200 OK\r\n\r\nab")
    reader.feed(b"cd")
    assert not reader.done and not reader.keep_alive
    reader.end()
    assert reader.done and b"".join(reader.take_body()) == b"abcd"


def test_informational_head_is_skipped_and_headers_kept_in_order() -> None:
    reader = ResponseReader()
    reader.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nA: 1\r\nA: 2\r\n")
    reader.feed(b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    assert reader.head is not None and reader.head.status == 404
    assert reader.head.reason == "Not Found" and reader.head.get(b"a") == b"2"
    assert reader.done and not reader.keep_alive


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 20x OK\r\n\r\n", "bad status code"),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc", "not followed by CRLF"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", "after the end"),
    ],
)
def test_malformed_responses_name_the_problem(raw: bytes, match: str) -> None:
    with pytest.raises(WireError, match=match):
        ResponseReader().feed(raw)


def test_caps_hold_without_a_terminator() -> None:
    reader = ResponseReader()
    with pytest.raises(WireError, match="head longer"):
        for _ in range(MAX_HEAD_BYTES // 1000 + 2):
            reader.feed(b"x" * 1000)
    reader = ResponseReader()
    reader.feed(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(WireError, match="chunk-size line"):
        reader.feed(b"1" * 2000)


def test_end_before_any_byte_reads_as_a_stale_connection() -> None:
    with pytest.raises(WireError, match="without sending a response"):
        ResponseReader().end()
    reader = ResponseReader()
    reader.feed(HEAD + b"Content-Length: 5\r\n\r\nab")
    with pytest.raises(WireError, match="complete message body"):
        reader.end()


def test_many_one_byte_reads_of_a_large_chunk_stay_linear() -> None:
    # Each feed scans only the new byte: 200 KiB in 1-byte reads finishes quickly.
    body = b"y" * 200_000
    raw = HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body, [len(body)])
    reader, got = ResponseReader(), 0
    view = memoryview(raw)
    for i in range(len(raw)):
        reader.feed(bytes(view[i : i + 1]))
        got += sum(len(p) for p in reader.take_body())
    assert reader.done and got == len(body)
