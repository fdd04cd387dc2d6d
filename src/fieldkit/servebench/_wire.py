"""HTTP/1.1 response framing for the load generator's own transport (pure, no I/O).

:class:`ResponseReader` takes the bytes of one response as they arrive and gives back the head
(status, headers) and then the body, de-chunked, as soon as each piece is complete. Every scan
starts where the last one stopped, so a response split into many small reads costs linear time;
the head, a chunk-size line and a trailer are capped, and anything malformed raises
:class:`WireError` naming what was wrong.
"""

from __future__ import annotations

__all__ = ["MAX_HEAD_BYTES", "ResponseHead", "ResponseReader", "WireError"]

MAX_HEAD_BYTES = 64 * 1024
"""Largest status line + headers (64 KiB), informational (1xx) heads included."""

_MAX_SIZE_LINE = 1024  # a chunk-size line, extensions included


class WireError(ValueError):
    """The bytes are not a well-formed HTTP/1.1 response."""


class ResponseHead:
    """Status and headers of a response (header names lower-cased, order kept)."""

    __slots__ = ("headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers

    def get(self, name: bytes) -> bytes | None:
        """The last value of header *name* (lower-case), or None."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found


def _parse_head(raw: bytes) -> ResponseHead:
    lines = raw.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise WireError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    if len(parts[1]) != 3 or not parts[1].isdigit():
        raise WireError(f"bad status code: {parts[1][:20]!r}")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip() or b" " in name:
            raise WireError(f"malformed header line: {line[:80]!r}")
        headers.append((name.lower(), value.strip(b" \t")))
    reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
    if parts[0] == b"HTTP/1.0":
        headers.append((b":http/1.0", b""))  # marks a connection that is not kept alive
    return ResponseHead(int(parts[1]), reason, headers)


class ResponseReader:
    """One response's framing: feed bytes with :meth:`feed`, then read :attr:`head` and
    :meth:`take_body` until :attr:`done`.

    The body's length comes from ``Transfer-Encoding: chunked``, else ``Content-Length``, else
    the end of the connection (:meth:`end` marks it). ``no_body`` is for answers to ``HEAD``.
    """

    def __init__(self, *, no_body: bool = False) -> None:
        self._buf = bytearray()
        self._scan = 0  # where the next search for a terminator starts
        self.head: ResponseHead | None = None
        self.done = False
        self.keep_alive = False
        self._no_body = no_body
        self._mode = ""  # "chunked", "length", "close"
        self._left = 0  # bytes left in the current chunk or the whole length-framed body
        self._state = "head"  # chunked: "size", "data", "crlf", "trailer"
        self._body: list[bytes] = []

    def feed(self, data: bytes) -> None:
        """Add *data* and frame all that it completes; raises :class:`WireError`."""
        if self.done:
            if data:
                raise WireError("bytes after the end of the response")
            return
        self._buf += data
        self._advance()

    def end(self) -> None:
        """The peer closed the connection: completes a close-framed body, else raises."""
        if self.done:
            return
        if self.head is None:
            if self._buf:
                raise WireError("the connection closed inside the response head")
            raise WireError("Server disconnected without sending a response.")
        if self._mode == "close":
            if self._buf:
                self._body.append(bytes(self._buf))
                self._buf.clear()
            self.done = True
            return
        raise WireError("peer closed connection without sending complete message body")

    def take_body(self) -> list[bytes]:
        """The body bytes framed since the last call (possibly none)."""
        out, self._body = self._body, []
        return out

    def _advance(self) -> None:
        while not self.done:
            if self.head is None:
                if not self._read_head():
                    return
            elif self._mode == "length":
                self._read_length()
                return
            elif self._mode == "close":
                if self._buf:
                    self._body.append(bytes(self._buf))
                    self._buf.clear()
                return
            elif not self._read_chunked():
                return

    def _read_head(self) -> bool:
        end = self._buf.find(b"\r\n\r\n", max(0, self._scan - 3))
        if end < 0:
            if len(self._buf) > MAX_HEAD_BYTES:
                raise WireError(f"a response head longer than {MAX_HEAD_BYTES} bytes")
            self._scan = len(self._buf)
            return False
        if end > MAX_HEAD_BYTES:
            raise WireError(f"a response head longer than {MAX_HEAD_BYTES} bytes")
        head = _parse_head(bytes(self._buf[:end]))
        del self._buf[: end + 4]
        self._scan = 0
        if 100 <= head.status < 200:
            return True  # an informational head: the real one follows
        self.head = head
        self._frame(head)
        return True

    def _frame(self, head: ResponseHead) -> None:
        conn = (head.get(b"connection") or b"").lower()
        http10 = head.get(b":http/1.0") is not None
        self.keep_alive = b"close" not in conn and (not http10 or b"keep-alive" in conn)
        te = head.get(b"transfer-encoding")
        length = head.get(b"content-length")
        if self._no_body or head.status in (204, 304):
            self.done = True
            return
        if te is not None:
            if te.lower().replace(b" ", b"").split(b",")[-1] != b"chunked":
                raise WireError(f"unsupported Transfer-Encoding: {te[:40]!r}")
            self._mode, self._state = "chunked", "size"
            return
        if length is not None:
            if not length.isdigit() or len(length) > 18:
                raise WireError(f"bad Content-Length: {length[:40]!r}")
            self._mode, self._left = "length", int(length)
            if self._left == 0:
                self.done = True
            return
        self._mode, self.keep_alive = "close", False

    def _read_length(self) -> None:
        if not self._buf:
            return
        take = min(self._left, len(self._buf))
        self._body.append(bytes(self._buf[:take]))
        del self._buf[:take]
        self._left -= take
        if self._left == 0:
            self.done = True
            if self._buf:
                raise WireError("bytes after the end of the response")

    def _read_chunked(self) -> bool:
        """Frame one step of a chunked body; False when more bytes are needed."""
        if self._state == "data":
            if not self._buf:
                return False
            take = min(self._left, len(self._buf))
            self._body.append(bytes(self._buf[:take]))
            del self._buf[:take]
            self._left -= take
            if self._left == 0:
                self._state = "crlf"
            return True
        if self._state == "crlf":
            if len(self._buf) < 2:
                return False
            if self._buf[:2] != b"\r\n":
                raise WireError("a chunk not followed by CRLF")
            del self._buf[:2]
            self._state = "size"
            return True
        end = self._buf.find(b"\r\n", max(0, self._scan - 1))
        if end < 0:
            limit = _MAX_SIZE_LINE if self._state == "size" else MAX_HEAD_BYTES
            if len(self._buf) > limit:
                raise WireError(f"a chunk-size line or trailer longer than {limit} bytes")
            self._scan = len(self._buf)
            return False
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        self._scan = 0
        if self._state == "trailer":
            if not line:
                self.done = True
                if self._buf:
                    raise WireError("bytes after the end of the response")
            return True
        size = line.split(b";", 1)[0].strip()
        if not size or len(size) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in size):
            raise WireError(f"bad chunk size: {line[:40]!r}")
        self._left = int(size, 16)
        self._state = "data" if self._left else "trailer"
        return True
