"""A small client of ``fieldkit.rag.RagServer``: standard library only, and outside
``fieldkit.rag`` so a question to a running server starts without numpy, psycopg or a model."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

from fieldkit._rag_discovery import LOOPBACK

__all__ = ["RagClient", "RagClientError", "place"]


class RagClientError(RuntimeError):
    """The server refused or failed a request, or could not be reached."""


class RagClient:
    """Talks to a running ``fieldkit rag serve`` at ``url`` (``http://127.0.0.1:PORT``).

    Failures raise RagClientError naming the server and its message; ``timeout`` bounds each wait
    for the server (connecting, and the gap between streamed events).
    """

    def __init__(self, url: str, *, timeout: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _open(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            return LOOPBACK.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            message = exc.reason
            with contextlib.suppress(ValueError, KeyError, TypeError):
                message = json.loads(exc.read())["error"]["message"]
            raise RagClientError(f"rag server at {self.url}: {message}") from None
        except OSError as exc:
            raise RagClientError(f"rag server at {self.url}: {exc}") from exc

    def _json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._open(path, body) as resp:
            try:
                out = json.loads(resp.read())
            except (ValueError, OSError) as exc:
                raise RagClientError(f"rag server at {self.url}: bad reply: {exc}") from exc
        if not isinstance(out, dict):
            raise RagClientError(f"rag server at {self.url}: bad reply (not an object)")
        return out

    def search(self, query: str, *, k: int = 5, mode: str = "hybrid") -> dict[str, Any]:
        """``{"query", "results": [citation, ...]}``."""
        return self._json("/search", {"query": query, "k": k, "mode": mode})

    def ask(self, question: str, **options: Any) -> dict[str, Any]:
        """The whole answer: ``{"question", "answer", "generator", "citations", ...}``."""
        return self._json("/ask", {"question": question, **options, "stream": False})

    def ask_stream(self, question: str, **options: Any) -> Iterator[dict[str, Any]]:
        """``{"delta": text}`` events as the tokens come, then the final answer object."""
        resp = self._open("/ask", {"question": question, **options, "stream": True})
        with resp:
            try:
                for raw in resp:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    event = json.loads(data)
                    if isinstance(event, dict) and "error" in event:
                        raise RagClientError(f"rag server at {self.url}: {event['error']}")
                    yield event
            except (OSError, ValueError) as exc:
                raise RagClientError(f"rag server at {self.url}: stream broke: {exc}") from exc
        raise RagClientError(f"rag server at {self.url}: stream ended before its last event")


def place(source: Mapping[str, Any] | None, chunk_id: int, path: str | None = None) -> str:
    """Where a cited chunk opens, for people: ``path:120``, ``path#anchor``, ``path, page 7``
    from the JSON form of its source (``path`` overrides the stored one); ``chunk <id>``
    without a source."""
    if not source:
        return f"chunk {chunk_id}"
    where = str(source.get("path", "")) if path is None else path
    if source.get("page"):
        return f"{where}, page {source['page']}"
    if source.get("anchor"):
        return f"{where}#{source['anchor']}"
    if source.get("line"):
        return f"{where}:{source['line']}"
    return where
