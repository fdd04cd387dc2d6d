"""Export to an HTTP tracking server: MLflow's wire format (a loopback server backed by a real
SQLite store), and the bounds — a whole-request deadline against a dripping server, a capped
reply size, a bounded run listing — and no run left RUNNING by a refused write."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fieldkit.lineage import LineageStore, Trial
from fieldkit.lineage._mlflow import ExportError, export_trials, mlflow_key
from fieldkit.lineage._mlflow_rest import RestError, RestTracking
from tests.lineage._mlflow_server import MlflowServer

pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")


@pytest.fixture(scope="module")
def backing(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow-rest') / 'mlflow.db'}"


@pytest.fixture
def server(backing: str) -> Iterator[MlflowServer]:
    srv = MlflowServer(backing)
    yield srv
    srv.close()


def _runs(uri: str, experiment: str) -> dict[str, tuple[str, dict[str, float]]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    return {
        r.data.tags["fieldkit.exp_id"]: (r.info.status, dict(r.data.metrics))
        for r in client.search_runs([exp.experiment_id], max_results=1000)
    }


def _trials(make: Callable[..., Trial]) -> list[Trial]:
    return [
        make("000", "baseline", 1.1),
        make("001", "keep", 1.05, parent="000", hypothesis="Raise lr"),
        make("002", "crash", None, parent="001"),
    ]


def test_export_over_http_speaks_mlflows_wire_format(
    server: MlflowServer, backing: str, make: Callable[..., Trial]
) -> None:
    first = export_trials(_trials(make), server.url, experiment="wire")
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    runs = _runs(backing, "wire")
    assert runs["001"] == ("FINISHED", {"core_metric": 1.05, "val_bpb": 1.05})
    assert runs["002"][0] == "FAILED"
    again = export_trials(_trials(make), server.url, experiment="wire")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert again.runs == first.runs


def test_a_column_mlflow_rejects_is_renamed_and_reexport_is_stable(
    tmp_path: Path, server: MlflowServer, backing: str
) -> None:
    log = tmp_path / "run" / "results.tsv"
    log.parent.mkdir()
    log.write_text(
        "exp_id\tstatus\tval_bpb\tacc@1\tloss(val)\n001\tkeep\t1.0\t0.5\t2.5\n", encoding="utf-8"
    )
    store = LineageStore(log.parent)
    for uri in (server.url, backing):  # HTTP and MLflow's own client
        first = store.export_mlflow(uri, experiment=f"cols-{uri[:4]}")
        assert first.created == 1
        assert _runs(backing, f"cols-{uri[:4]}")["001"] == (
            "FINISHED",
            {"val_bpb": 1.0, "acc_1": 0.5, "loss_val_": 2.5},
        )
        assert store.export_mlflow(uri, experiment=f"cols-{uri[:4]}").unchanged == 1
    assert mlflow_key("../a//b") == "_./a//b" and mlflow_key("/x") == "x"
    assert mlflow_key("é ok-1.2/x") == "é ok-1.2/x" and len(mlflow_key("m" * 400)) == 250


def test_a_refused_write_leaves_no_run_running_and_reexport_repairs(
    server: MlflowServer, backing: str, make: Callable[..., Trial]
) -> None:
    server.fault["runs/log-batch"] = (400, "INVALID_PARAMETER_VALUE")
    with pytest.raises(ExportError, match="INVALID_PARAMETER_VALUE"):
        export_trials(_trials(make), server.url, experiment="refused")
    runs = _runs(backing, "refused")
    assert runs and {status for status, _ in runs.values()} == {"FAILED"}
    del server.fault["runs/log-batch"]
    fixed = export_trials(_trials(make), server.url, experiment="refused")
    assert (fixed.created, fixed.updated) == (0, 3)
    runs = _runs(backing, "refused")
    assert runs["000"][0] == "FINISHED" and runs["002"][0] == "FAILED"
    assert runs["001"][1]["core_metric"] == 1.05


@contextlib.contextmanager
def _raw_server(serve: Callable[..., None]) -> Iterator[str]:
    """A loopback server running *serve* on every connection (in its own thread)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conns.append(conn)
            threading.Thread(target=_quietly, args=(serve, conn, stop), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for c in conns:
            c.close()
        listener.close()


def _quietly(serve: Callable[..., None], conn: socket.socket, stop: threading.Event) -> None:
    with contextlib.suppress(OSError):
        conn.settimeout(5)
        serve(conn, stop, conn.recv(65536))  # requests here are small: one recv holds one


def _bounded(fn: Callable[[], object]) -> BaseException | None:
    """Run *fn* in a thread; the test fails if it is still running after 60 s (a hang)."""
    box: list[BaseException] = []

    def go() -> None:
        try:
            fn()
        except BaseException as exc:  # handed to the test
            box.append(exc)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the export did not give up"
    return box[0] if box else None


def test_a_server_dripping_one_byte_a_second_fails_by_the_request_deadline(
    make: Callable[..., Trial],
) -> None:
    def drip(conn: socket.socket, stop: threading.Event, request: bytes) -> None:
        payload = (
            b'HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n{"experiment": ' + b" " * 10**6
        )
        for byte in payload:
            if stop.wait(0.3):
                return
            conn.sendall(bytes([byte]))

    with _raw_server(drip) as url:
        err = _bounded(
            lambda: export_trials(_trials(make), url, experiment="x", request_timeout=1.0)
        )
    assert isinstance(err, ExportError)
    assert "request_timeout=1 s" in str(err)


def _reply(body: bytes, *, length: int | None = None, chunked: bool = False) -> Callable[..., None]:
    def serve(conn: socket.socket, stop: threading.Event, request: bytes) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        if chunked:
            conn.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(body), 65536):
                part = body[i : i + 65536]
                conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            conn.sendall(b"0\r\n\r\n")
        else:
            n = len(body) if length is None else length
            conn.sendall(head + b"Content-Length: %d\r\n\r\n" % n + body)

    return serve


@pytest.mark.parametrize(
    "serve",
    [
        _reply(b"{}", length=300 * 1024 * 1024),  # declares 300 MB
        _reply(b'{"experiment": {"name": "' + b"x" * (8 * 1024 * 1024) + b'"}}', chunked=True),
    ],
    ids=["declared", "streamed"],
)
def test_a_huge_reply_is_refused_past_max_response_bytes(
    make: Callable[..., Trial], serve: Callable[..., None]
) -> None:
    with _raw_server(serve) as url:
        err = _bounded(
            lambda: export_trials(
                _trials(make), url, experiment="x", max_response_bytes=1024 * 1024
            )
        )
    assert isinstance(err, ExportError) and "max_response_bytes=1,048,576" in str(err)


def _search_server(token: Callable[[int], str]) -> Callable[..., None]:
    """get-by-name finds experiment 1; every runs/search page holds one run and a token."""
    pages = [0]

    def serve(conn: socket.socket, stop: threading.Event, request: bytes) -> None:
        while not stop.is_set():  # keep-alive: answer every request on this connection
            if b"get-by-name" in request:
                body = {"experiment": {"experiment_id": "1"}}
            else:
                pages[0] += 1
                run = {
                    "info": {"run_id": f"r{pages[0]}", "status": "FINISHED"},
                    "data": {"tags": [{"key": "fieldkit.exp_id", "value": f"x{pages[0]}"}]},
                }
                body = {"runs": [run], "next_page_token": token(pages[0])}
            data = json.dumps(body).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
            request = conn.recv(65536)
            if not request:
                return

    return serve


@pytest.mark.parametrize(
    ("token", "needle"),
    [(lambda n: "same", "twice"), (lambda n: f"t{n}", "max_pages=5")],
    ids=["repeated", "endless"],
)
def test_a_run_listing_that_never_ends_is_an_error(
    make: Callable[..., Trial], token: Callable[[int], str], needle: str
) -> None:
    with _raw_server(_search_server(token)) as url:
        err = _bounded(lambda: export_trials(_trials(make), url, experiment="x", max_pages=5))
    assert isinstance(err, ExportError) and needle in str(err)


def test_limits_are_checked(make: Callable[..., Trial]) -> None:
    for bad in (0.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="request_timeout"):
            export_trials(_trials(make), "http://127.0.0.1:9", experiment="x", request_timeout=bad)


def _gzip_bomb(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(b" " * size) + packer.flush()


def test_a_compression_bomb_is_refused_before_it_expands(make: Callable[..., Trial]) -> None:
    """64 MiB of gzip-compressed spaces (about 64 KiB on the wire) against a 1 MiB cap: the
    reply is refused with no more than the cap decoded, never one 64 MiB piece."""
    bomb = _gzip_bomb(64 * 1024 * 1024)

    def serve(conn: socket.socket, stop: threading.Event, request: bytes) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(bomb), bomb)
        )

    with _raw_server(serve) as url:
        tracemalloc.start()
        try:
            err = _bounded(
                lambda: export_trials(
                    _trials(make), url, experiment="x", max_response_bytes=1024 * 1024
                )
            )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert isinstance(err, ExportError)
    assert "reply of 1,048,577+ bytes exceeds max_response_bytes=1,048,576" in str(err)
    assert peak < 16 * 1024 * 1024


def test_a_redirect_is_an_error_not_a_silent_success() -> None:
    """A write answered by a redirect did not happen: it must not pass for done."""

    def serve(conn: socket.socket, stop: threading.Event, request: bytes) -> None:
        conn.sendall(
            b"HTTP/1.1 302 Found\r\nLocation: https://login.example/\r\nContent-Length: 0\r\n\r\n"
        )

    with _raw_server(serve) as url:
        tracking = RestTracking(url, request_timeout=5.0, max_response_bytes=1024)
        try:
            with pytest.raises(RestError, match=r"HTTP 302 redirect to 'https://login\.example/'"):
                tracking.set_terminated("run1", "FINISHED", None)
        finally:
            tracking.close()


def test_the_cli_bounds_the_run_listing_with_max_pages(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.tsv").write_text("exp_id\tstatus\tval_bpb\n000\tbaseline\t1.0\n")
    with _raw_server(_search_server(lambda n: f"t{n}")) as url:
        proc = subprocess.run(
            [sys.executable, "-m", "fieldkit", "lineage", "export", str(run), "--mlflow", url,
             "--max-pages", "3", "--request-timeout", "10"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "max_pages=3 pages" in proc.stderr


def test_a_failed_experiment_lookup_closes_the_connection() -> None:
    """The export's HTTP connections are closed when it fails at its first call."""
    closed = threading.Event()

    def serve(conn: socket.socket, stop: threading.Event, request: bytes) -> None:
        if not request:  # the reachability probe
            return
        body = b'{"error_code": "INTERNAL_ERROR", "message": "boom"}'
        head = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
        conn.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        conn.settimeout(30)
        if conn.recv(1) == b"":  # the client hung up: its connection pool was closed
            closed.set()

    with _raw_server(serve) as url:
        err = _bounded(lambda: export_trials([], url, experiment="x"))
        assert isinstance(err, ExportError) and "HTTP 500 INTERNAL_ERROR boom" in str(err)
        assert closed.wait(30)  # while the error (and the export's frame) is still alive
