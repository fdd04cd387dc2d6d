"""Export a trial log to MLflow: one run per trial, parents as nested runs, idempotent.

Each trial's run is found again by its ``fieldkit.exp_id`` tag, so exporting twice updates in
place and never duplicates: only what differs from the tracking store is written (a metric is
logged once per value, so its history does not grow). Writes use ``log_batch`` (one call per
run for all its metrics, params and tags). ``mlflow`` is imported lazily (the ``mlflow``
extra). Params are immutable in MLflow: a changed hypothesis is counted, not rewritten.
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from fieldkit._lazy import require
from fieldkit.lineage._index import norm_id
from fieldkit.lineage._labels import FailureLabel
from fieldkit.lineage._mlflow_rest import Batch, RestError, RestTracking, RunRecord
from fieldkit.lineage._trial import FLOAT_FIELDS, Trial, parse_float

__all__ = [
    "ExportError",
    "ExportResult",
    "desired_run",
    "export_store",
    "export_trials",
    "mlflow_key",
]

EXP_TAG = "fieldkit.exp_id"
_TEXT_LIMIT = 5000  # under MLflow's param (6000) and tag (8000) value limits
_BATCH = 900  # log_batch takes at most 1000 entities per call
_FAILED = {FailureLabel.CRASH, FailureLabel.PREFLIGHT_CRASH}


class ExportError(ValueError):
    """The tracking store could not be reached or refused the export (message says which)."""


def _brief(detail: object, limit: int = 300) -> str:
    """*detail* on one line, at most *limit* characters (a server may answer with a web page)."""
    text = " ".join(str(detail).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class RunState:
    """What an MLflow run holds (or should hold) for one trial."""

    name: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]
    status: str
    start_ms: int | None
    end_ms: int | None


@dataclass
class ExportResult:
    """Counts of one export; ``runs`` maps each exp_id to its MLflow run id."""

    experiment_id: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    params_kept: int = 0
    runs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "runs": len(self.runs)}


def _text(value: str) -> str:
    return value if len(value) <= _TEXT_LIMIT else value[: _TEXT_LIMIT - 1] + "…"


def _epoch_ms(stamp: str) -> int | None:
    text = stamp.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000) if text else None
    except ValueError:
        return None


def _metrics(t: Trial) -> dict[str, float]:
    """Numeric columns as the file has them (or every set float field for a trial built in code)."""
    out: dict[str, float] = {}
    for name in FLOAT_FIELDS:
        if t.raw and name not in t.raw:
            continue  # e.g. core_metric mirrored from val_bpb: not a column of this log
        value = getattr(t, name)
        if value is not None and math.isfinite(value):
            out[name] = float(value)
    for name, text in t.extras.items():
        try:
            value = parse_float(text, column=name)
        except ValueError:
            continue
        if value is not None and math.isfinite(value):
            out[mlflow_key(name)] = value
    return out


def desired_run(t: Trial, parent_run_id: str | None, source: str) -> RunState:
    """The run a trial maps to (pure): tags, params, metrics, status and times."""
    tags = {
        EXP_TAG: norm_id(t.exp_id),
        "mlflow.runName": f"exp_{norm_id(t.exp_id)}",
        "status": t.status.value,
        "specialist": t.specialist,
        "domain": t.domain,
        "parent_exp": t.parent_exp,
        "baseline_exp": t.baseline_exp,
        "expected_delta": t.expected_delta,
        "job_name": t.job_name,
        "snapshot_path": t.snapshot_path,
        "fieldkit.source": source,
    }
    tags = {k: _text(v) for k, v in tags.items() if v}
    if t.notes:
        tags["mlflow.note.content"] = _text(t.notes)
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    params = {"hypothesis": _text(t.hypothesis)} if t.hypothesis else {}
    start = _epoch_ms(t.timestamp)
    end = start
    if start is not None and t.total_s is not None and math.isfinite(t.total_s):
        end = start + max(0, int(t.total_s * 1000))
    if t.status is FailureLabel.HARNESS_ABORT:
        status = "KILLED"
    elif t.status in _FAILED:
        status = "FAILED"
    else:
        status = "FINISHED"
    return RunState(f"exp_{norm_id(t.exp_id)}", tags, params, _metrics(t), status, start, end)


def _check_reachable(uri: str, timeout: float) -> None:
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "localhost", port), timeout=timeout):
            pass
    except OSError as exc:
        raise ExportError(f"MLflow tracking URI {uri} is unreachable: {exc}") from None


_KEY_BAD = re.compile(r"[^\w./\- ]")  # MLflow accepts letters, digits, _ - . / and space
_KEY_MAX = 250


def mlflow_key(name: str) -> str:
    """*name* as a metric or param key MLflow accepts: other characters become ``_``, no
    leading ``/`` or ``..`` part, at most 250 characters (a column such as ``acc@1`` would
    otherwise fail every export the same way)."""
    key = _KEY_BAD.sub("_", name).lstrip("/")
    key = "/".join("_." if part == ".." else part for part in key.split("/"))
    return (key or "_")[:_KEY_MAX]


class _ClientTracking:
    """MLflow's own client, for non-HTTP stores (a local SQLite file or folder)."""

    def __init__(self, uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=uri)

    def close(self) -> None:
        pass

    def experiment_id(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        return str(exp.experiment_id if exp is not None else self.client.create_experiment(name))

    def search(self, exp_id: str, token: str | None) -> tuple[list[RunRecord], str | None]:
        page = self.client.search_runs(
            [exp_id], max_results=5000, page_token=token, order_by=["attributes.start_time ASC"]
        )
        runs = [
            RunRecord(
                r.info.run_id,
                r.info.status,
                r.info.start_time,
                r.info.end_time,
                dict(r.data.tags),
                dict(r.data.params),
                dict(r.data.metrics),
            )
            for r in page
        ]
        return runs, page.token or None

    def create_run(self, exp_id: str, start_ms: int | None, tags: dict[str, str]) -> str:
        return str(self.client.create_run(exp_id, start_time=start_ms, tags=tags).info.run_id)

    def log_batch(self, run_id: str, batch: Batch) -> None:
        from mlflow.entities import Metric, Param, RunTag

        self.client.log_batch(
            run_id,
            metrics=[Metric(*m) for m in batch.metrics],
            params=[Param(*p) for p in batch.params],
            tags=[RunTag(*t) for t in batch.tags],
        )

    def set_terminated(self, run_id: str, status: str, end_ms: int | None) -> None:
        self.client.set_terminated(run_id, status=status, end_time=end_ms)


def _chunks(items: Sequence[Any], n: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_PAGES = 10_000


def export_trials(
    trials: Sequence[Trial],
    tracking_uri: str,
    *,
    experiment: str,
    source: str = "",
    connect_timeout: float = 5.0,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> ExportResult:
    """Make *experiment* at *tracking_uri* hold one run per trial (last row of an id wins).

    Against an HTTP server each request must complete within *request_timeout* seconds in
    total and its reply stay under *max_response_bytes*; listing runs stops after *max_pages*
    pages or a repeated page token. Raises ``ExportError`` when the store is unreachable,
    rejects a call, or breaks one of those bounds. Runs this export created are never left
    ``RUNNING``: a failed export marks them ``FAILED`` and the next export repairs them.
    """
    if not 0 < request_timeout < math.inf:
        raise ValueError(
            f"request_timeout must be a positive number of seconds, got {request_timeout}"
        )
    if max_response_bytes <= 0 or max_pages <= 0:
        raise ValueError("max_response_bytes and max_pages must be positive")
    return _export(
        trials, tracking_uri, experiment, source, connect_timeout,
        request_timeout, max_response_bytes, max_pages,
    )  # fmt: skip


def _open(uri: str, request_timeout: float, max_response_bytes: int) -> Any:
    if urlparse(uri).scheme in ("http", "https"):
        return RestTracking(
            uri, request_timeout=request_timeout, max_response_bytes=max_response_bytes
        )
    require("mlflow", "mlflow", purpose="exporting lineage to MLflow")
    return _ClientTracking(uri)


def _export(
    trials: Sequence[Trial],
    tracking_uri: str,
    experiment: str,
    source: str,
    connect_timeout: float,
    request_timeout: float,
    max_response_bytes: int,
    max_pages: int,
) -> ExportResult:
    _check_reachable(tracking_uri, connect_timeout)
    latest: dict[str, Trial] = {}
    for t in trials:
        latest[norm_id(t.exp_id)] = t  # dict order = first appearance, value = last row
    try:  # opening a store can fail in many ways (bad path, driver, schema): all are "can't"
        tracking = _open(tracking_uri, request_timeout, max_response_bytes)
        try:
            exp_id = tracking.experiment_id(experiment)
        except BaseException:
            tracking.close()  # its connections go now, not when the error is collected
            raise
    except ExportError:
        raise
    except RestError as exc:
        raise ExportError(f"MLflow at {tracking_uri}: {_brief(exc)}") from None
    except Exception as exc:
        if type(exc).__name__ == "MlflowException":
            raise ExportError(f"MLflow at {tracking_uri}: {_brief(exc)}") from None
        raise ExportError(
            f"cannot open MLflow tracking store {tracking_uri}: {_brief(exc)}"
        ) from None
    created: set[str] = set()
    unfinished: dict[str, str] = {}  # run id -> exp id, for runs this export left RUNNING
    try:
        result = ExportResult(experiment_id=exp_id)
        existing = _existing_runs(tracking, exp_id, max_pages)
        # Pass 1: a run for every trial, so each child can name its parent's run id.
        for key, t in latest.items():
            if key in existing:
                continue
            want = desired_run(t, None, source)
            run_id = tracking.create_run(exp_id, want.start_ms, want.tags)
            unfinished[run_id] = key
            existing[key] = (
                run_id,
                RunState(want.name, dict(want.tags), {}, {}, "RUNNING", want.start_ms, None),
            )
            created.add(key)
        result.created = len(created)
        run_ids = {k: run_id for k, (run_id, _state) in existing.items()}
        # Pass 2: write only what differs from what the store holds.
        for key, t in latest.items():
            run_id, have = existing[key]
            result.runs[key] = run_id
            parent = norm_id(t.parent_exp) if t.parent_exp else ""
            parent_run = run_ids.get(parent) if parent and parent != key else None
            want = desired_run(t, parent_run, source)
            tags = [(k, v) for k, v in want.tags.items() if have.tags.get(k) != v]
            params = []
            for k, v in want.params.items():
                if k not in have.params:
                    params.append(("p", k, v))
                elif have.params[k] != v:
                    result.params_kept += 1
            ts = want.start_ms or 0
            # MLflow's latest value is the largest (step, timestamp, value): a changed value is
            # logged at a later timestamp so it wins even when it is smaller than the old one.
            later = max(ts, int(time.time() * 1000))
            metrics = [
                ("m", k, v, later if k in have.metrics else ts, 0)
                for k, v in want.metrics.items()
                if have.metrics.get(k) != v
            ]
            entities: list[Any] = [*metrics, *params, *[("t", k, v) for k, v in tags]]
            for part in _chunks(entities, _BATCH):
                batch = Batch(
                    [e[1:] for e in part if e[0] == "m"],
                    [e[1:] for e in part if e[0] == "p"],
                    [e[1:] for e in part if e[0] == "t"],
                )
                tracking.log_batch(run_id, batch)
            # no timestamp in the log: MLflow stamps its own end time, which is then kept
            status_changed = have.status != want.status or (
                want.end_ms is not None and have.end_ms != want.end_ms
            )
            if status_changed:
                tracking.set_terminated(run_id, want.status, want.end_ms)
            unfinished.pop(run_id, None)
            if key in created:
                continue
            if entities or status_changed:
                result.updated += 1
            else:
                result.unchanged += 1
    except Exception as exc:
        if not isinstance(exc, (RestError, OSError)) and type(exc).__name__ != "MlflowException":
            raise
        _mark_failed(tracking, unfinished)
        raise ExportError(f"MLflow at {tracking_uri}: {_brief(exc)}") from None
    finally:
        tracking.close()
    return result


def _mark_failed(tracking: Any, unfinished: dict[str, str]) -> None:
    """Best effort: runs this export created but did not finish are FAILED, not RUNNING."""
    for run_id in unfinished:
        with contextlib.suppress(Exception):
            tracking.set_terminated(run_id, "FAILED", int(time.time() * 1000))


def _existing_runs(tracking: Any, exp_id: str, max_pages: int) -> dict[str, tuple[str, RunState]]:
    """Runs of the experiment carrying an exp_id tag (the oldest wins if one is duplicated).

    Bounded: an empty page ends the listing, a page token seen before or more than
    *max_pages* pages is an error (a server that always returns a token would loop forever)."""
    found: dict[str, tuple[str, RunState]] = {}
    token: str | None = None
    tokens: set[str] = set()
    for _ in range(max_pages):
        runs, token = tracking.search(exp_id, token)
        for run in runs:
            key = run.tags.get(EXP_TAG)
            if key is None or key in found:
                continue
            state = RunState(
                run.tags.get("mlflow.runName", ""),
                dict(run.tags),
                dict(run.params),
                dict(run.metrics),
                run.status,
                run.start_ms,
                run.end_ms,
            )
            found[key] = (run.run_id, state)
        if not token or not runs:
            return found
        if token in tokens:
            raise RestError(f"runs/search returned page token {_brief(token, 40)!r} twice")
        tokens.add(token)
    raise RestError(f"runs/search returned more than max_pages={max_pages:,} pages")


def export_store(
    store: Any,
    tracking_uri: str,
    *,
    experiment: str | None = None,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> ExportResult:
    """Export every trial of a lineage store; the experiment defaults to the log's name."""
    where = str(store._where())
    if experiment is None:
        results_path = getattr(store, "results_path", None)
        experiment = results_path.parent.name if results_path is not None else store.table
    if not experiment:
        raise ValueError("experiment name must not be empty")
    trials = store.all_trials()
    if not trials:
        raise ValueError(f"{where} has no trials: nothing to export")
    return export_trials(
        trials,
        tracking_uri,
        experiment=experiment,
        source=where,
        request_timeout=request_timeout,
        max_response_bytes=max_response_bytes,
        max_pages=max_pages,
    )
