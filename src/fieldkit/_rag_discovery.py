"""Finding running servers: a ``fieldkit rag serve`` (its file under ``$FIELDKIT_HOME``) and an
OpenAI-compatible chat server such as ``fieldkit serve`` on its default port. Standard library
only, outside ``fieldkit.rag``, so a question to a running server starts fast.

The discovery file names the server's pid, URL and database; a file whose pid is gone is stale
and removed; a live pid whose ``/health`` does not answer within the timeout is not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fieldkit._atomic import atomic_write_text
from fieldkit._home import fieldkit_home

__all__ = [
    "DEFAULT_CHAT_URL",
    "LOOPBACK",
    "RagServerInfo",
    "discovery_path",
    "dsn_key",
    "find_chat_server",
    "find_rag_server",
    "get_json",
    "remove_discovery",
    "write_discovery",
]

DEFAULT_CHAT_URL = "http://127.0.0.1:8080/v1"  # where `fieldkit serve` listens by default


@dataclass(frozen=True, slots=True)
class RagServerInfo:
    """A running ``rag serve``: its pid, base URL (``http://127.0.0.1:PORT``), database key,
    default table and generator model (None: retrieval only)."""

    pid: int
    url: str
    dsn_key: str
    table: str
    generator: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (the discovery file's content)."""
        return asdict(self)


def discovery_path() -> Path:
    """``$FIELDKIT_HOME/rag-serve.json``."""
    return fieldkit_home() / "rag-serve.json"


def dsn_key(dsn: str | None) -> str:
    """``"embedded"`` or a hash of the DSN (the file never holds a password)."""
    if dsn is None:
        return "embedded"
    return "dsn:" + hashlib.sha256(dsn.encode()).hexdigest()[:16]


def write_discovery(info: RagServerInfo) -> Path:
    """Publish ``info`` (atomically; the last server started wins)."""
    path = discovery_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(info.to_dict()) + "\n")


def remove_discovery(pid: int) -> None:
    """Remove the discovery file if it still names ``pid`` (never another server's)."""
    info = _read()
    if info is not None and info.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            discovery_path().unlink()


def _read() -> RagServerInfo | None:
    try:
        data = json.loads(discovery_path().read_text(encoding="utf-8"))
        return RagServerInfo(
            int(data["pid"]),
            str(data["url"]),
            str(data["dsn_key"]),
            str(data["table"]),
            None if data.get("generator") is None else str(data["generator"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


# loopback servers are reached directly: an http_proxy in the environment must not see them
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_json(url: str, timeout: float) -> Any:
    """GET ``url`` and parse JSON; None on any failure (refused, timeout, not JSON)."""
    try:
        with LOOPBACK.open(url, timeout=timeout) as resp:
            return json.loads(resp.read(1 << 20))
    except (OSError, ValueError, urllib.error.URLError):
        return None


def find_rag_server(dsn: str | None = None, *, timeout: float = 1.0) -> RagServerInfo | None:
    """The running ``rag serve`` over the same database, if one answers ``/health``."""
    info = _read()
    if info is None:
        return None
    if not _alive(info.pid):
        remove_discovery(info.pid)
        return None
    if info.dsn_key != dsn_key(dsn) or not info.url.startswith("http://127.0.0.1:"):
        return None
    health = get_json(info.url + "/health", timeout)
    if not isinstance(health, dict) or health.get("pid") != info.pid:
        return None
    return info


def find_chat_server(
    url: str = DEFAULT_CHAT_URL, *, timeout: float = 0.5
) -> tuple[str, str] | None:
    """(base URL, model id) of an OpenAI-compatible server answering ``url/models``, else
    None; a running ``fieldkit serve`` is found this way."""
    data = get_json(url.rstrip("/") + "/models", timeout)
    try:
        model = data["data"][0]["id"]
    except (KeyError, IndexError, TypeError):
        return None
    return (url.rstrip("/"), str(model)) if isinstance(model, str) and model else None
