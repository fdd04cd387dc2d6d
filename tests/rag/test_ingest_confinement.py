"""File discovery of ``ingest_paths`` against real symlinks, FIFOs and undecodable names.

Nothing outside the given roots is read (so nothing outside them reaches a model server),
nothing non-regular blocks the walk, and one odd file name never costs the other files.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fieldkit.nim import NIMClient
from fieldkit.rag import IngestSummary, Pipeline
from fieldkit.rag._discover import read_confined, walk

SECRET = "hunter2-zebra-secret-passphrase"


def _run_walk(
    roots: list[Path], *, follow_symlinks: bool = False
) -> tuple[list[str], list[tuple[str, str]]]:
    """The walk in a thread with a join bound, so a blocking open fails instead of hanging."""
    warnings: list[tuple[str, str]] = []
    out: list[str] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            for p in walk(
                roots,
                warn=lambda p, r: warnings.append((p, r)),
                follow_symlinks=follow_symlinks,
            ):
                out.append(str(p))
                read_confined(p, roots, 1 << 20, follow_symlinks=follow_symlinks)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the walk blocked"
    if errors:
        raise errors[0]
    return out, warnings


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """docs/ with an in-tree file, a symlink to a secret beside docs/, a symlinked folder
    outside, an in-tree symlink, and a FIFO named like a document."""
    secret = tmp_path / "secret.txt"
    secret.write_text(f"The password is {SECRET}.\n")
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd.md").write_text(f"# passwd\n\nroot:{SECRET}:0:0\n")
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "guide.md").write_text("# Guide\n\nPelicans have large beaks.\n")
    (docs / "sub" / "inner.md").write_text("# Inner\n\nQuokkas live on Rottnest.\n")
    os.symlink(secret, docs / "notes.md")
    os.symlink(outside, docs / "config")
    os.symlink(docs / "sub" / "inner.md", docs / "alias.md")  # inside: still read
    os.mkfifo(docs / "pipe.md")
    return docs


def test_symlinks_out_of_the_roots_are_skipped_with_a_warning(tree: Path) -> None:
    files, warnings = _run_walk([tree])
    names = sorted(Path(f).name for f in files)
    assert names == ["alias.md", "guide.md", "inner.md"]
    reasons = {Path(p).name: r for p, r in warnings}
    assert "outside the ingested folders" in reasons["notes.md"]
    assert "outside the ingested folders" in reasons["config"]
    assert "--follow-symlinks" in reasons["notes.md"]
    assert "not a regular file" in reasons["pipe.md"]


def test_follow_symlinks_opts_in(tree: Path) -> None:
    files, _ = _run_walk([tree], follow_symlinks=True)
    assert {Path(f).name for f in files} == {
        "alias.md",
        "guide.md",
        "inner.md",
        "notes.md",
        "passwd.md",
    }


def test_a_file_swapped_for_an_outside_symlink_after_the_walk_is_refused(
    tree: Path, tmp_path: Path
) -> None:
    guide = tree / "guide.md"
    found = list(walk([tree], warn=lambda p, r: None))
    assert guide in found
    guide.unlink()
    os.symlink(tmp_path / "secret.txt", guide)
    with pytest.raises(OSError, match="outside the ingested folders"):
        read_confined(guide, [tree], 1 << 20)
    guide.unlink()
    os.mkfifo(guide)  # a FIFO swapped in is refused without blocking
    with pytest.raises(OSError, match="not a regular file"):
        read_confined(guide, [tree], 1 << 20)


def test_a_root_named_explicitly_may_itself_be_a_symlink(tree: Path, tmp_path: Path) -> None:
    link = tmp_path / "docs-link"
    os.symlink(tree, link)
    files, _ = _run_walk([link])
    assert {Path(f).name for f in files} == {"alias.md", "guide.md", "inner.md"}


def test_an_undecodable_file_name_is_skipped_by_name_and_the_rest_walked(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nalpha\n")
    (folder / "b.md").write_text("# B\n\nbeta\n")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.md"), "wb") as fh:
        fh.write(b"# Cafe\n\ncreme\n")
    files, warnings = _run_walk([folder])
    assert sorted(Path(f).name for f in files) == ["a.md", "b.md"]
    assert len(warnings) == 1
    path, reason = warnings[0]
    assert path.endswith("caf\\xe9.md") and "not valid UTF-8" in reason


class _ChatServer:
    """A loopback OpenAI-compatible chat server that records every request body."""

    def __init__(self) -> None:
        bodies: list[str] = []
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                bodies.append(self.rfile.read(length).decode("utf-8"))
                reply = json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "model": "m",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "Pelicans. [1]"},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def chat_server() -> Iterator[_ChatServer]:
    server = _ChatServer()
    yield server
    server.close()


def test_ingest_stores_nothing_from_outside_and_ask_never_sends_it(
    make_pipe: Callable[..., Pipeline], tree: Path, chat_server: _ChatServer
) -> None:
    pipe = make_pipe()
    s = pipe.ingest_paths([tree], glob="*", progress=False)
    assert s.added == 3  # guide, inner, alias (same text as inner, its own path)
    warned = {Path(p).name for p, _ in s.warnings}
    assert {"notes.md", "config", "pipe.md"} <= warned
    hits = pipe.retrieve(f"password {SECRET} passwd root", top_k=10, mode="hybrid")
    assert hits and not any(SECRET in c.text for c in hits)

    with NIMClient(chat_server.url, "m", max_retries=0, timeout=30.0) as client:
        pipe.generator = client
        out = pipe.ask(f"What is the password {SECRET}?", retrieve_k=10, rerank_k=10)
    assert out["answer"] == "Pelicans. [1]"
    assert len(chat_server.bodies) == 1
    sent = json.loads(chat_server.bodies[0])
    body = json.dumps(sent)
    assert "Pelicans have large beaks" in body  # the context was sent ...
    assert "root:" not in body and "The password is" not in body  # ... without the secrets


def test_follow_symlinks_stores_the_outside_files_when_asked(
    make_pipe: Callable[..., Pipeline], tree: Path
) -> None:
    pipe = make_pipe()
    s = pipe.ingest_paths([tree], glob="*", progress=False, follow_symlinks=True)
    assert s.added == 5
    assert any(SECRET in c.text for c in pipe.retrieve(SECRET, top_k=5, mode="lexical"))


def test_a_fifo_and_an_undecodable_name_inside_the_folder_cost_nothing_else(
    make_pipe: Callable[..., Pipeline], tmp_path: Path
) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.md").write_text("# Alpha\n\nAardvarks dig burrows.\n")
    (folder / "b.md").write_text("# Beta\n\nBadgers dig setts.\n")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.md"), "wb") as fh:
        fh.write(b"# Cafe\n\nCreme brulee.\n")
    os.mkfifo(folder / "pipe.md")
    pipe = make_pipe()
    box: list[IngestSummary] = []
    t = threading.Thread(
        target=lambda: box.append(pipe.ingest_paths([folder], progress=False)), daemon=True
    )
    t.start()
    t.join(120)
    assert not t.is_alive(), "ingest blocked on the FIFO"
    (s,) = box
    assert s.added == 2 and pipe.count() >= 2
    reasons = {Path(p).name: r for p, r in s.warnings}
    assert "not valid UTF-8" in reasons["caf\\xe9.md"]
    assert "not a regular file" in reasons["pipe.md"]


def test_an_empty_path_is_refused(make_pipe: Callable[..., Pipeline]) -> None:
    with pytest.raises(ValueError, match="empty path"):
        make_pipe().ingest_paths([""], progress=False)


def test_a_folder_swapped_for_an_outside_symlink_while_the_file_is_opened_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``O_NOFOLLOW`` guards only the last component: a folder on the path swapped for a symlink
    after the path was resolved is caught on the open descriptor."""
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.md").write_text("fine")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.md").write_text(SECRET)
    resolve = os.path.realpath

    def resolve_then_swap(path: str | os.PathLike[str]) -> str:
        real = resolve(path)
        if os.fspath(path).endswith("a.md") and not (root / "sub").is_symlink():
            os.rename(root / "sub", root / "sub.old")  # the attacker's move, mid-call
            os.symlink(outside, root / "sub")
        return real

    monkeypatch.setattr(os.path, "realpath", resolve_then_swap)
    with pytest.raises(OSError, match="changed while it was opened"):
        read_confined(root / "sub" / "a.md", [root], 1 << 20)
