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
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlparse

from fieldkit._lazy import require
from fieldkit.lineage._index import norm_id
from fieldkit.lineage._labels import FailureLabel
from fieldkit.lineage._trial import FLOAT_FIELDS, Trial, parse_float

__all__ = ["ExportError", "ExportResult", "desired_run", "export_store", "export_trials"]

EXP_TAG = "fieldkit.exp_id"
_T = TypeVar("_T")
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
        return {
            "experiment_id": self.experiment_id,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "params_kept": self.params_kept,
            "runs": len(self.runs),
        }


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
            out[name] = value
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


_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _http_deadline(tracking_uri: str, timeout: float) -> Iterator[None]:
    """Bound each MLflow HTTP request to *timeout* s with one retry (MLflow's defaults, 120 s
    and 7 retries with backoff, can wait ~20 minutes on a server that never answers).

    MLflow's tracking client reads these limits only from the environment, so for an http(s)
    URI they are set for the export's duration (one export at a time) and removed afterwards;
    a value the user set wins, and a file or database URI leaves the environment untouched."""
    if urlparse(tracking_uri).scheme not in ("http", "https"):
        yield
        return
    wanted = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(timeout))),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    }
    with _ENV_LOCK:
        added = {k: v for k, v in wanted.items() if k not in os.environ}
        os.environ.update(added)
        try:
            yield
        finally:
            for k in added:
                os.environ.pop(k, None)


def _chunks(items: Sequence[_T], n: int) -> Iterable[Sequence[_T]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def export_trials(
    trials: Sequence[Trial],
    tracking_uri: str,
    *,
    experiment: str,
    source: str = "",
    connect_timeout: float = 5.0,
    request_timeout: float = 30.0,
) -> ExportResult:
    """Make *experiment* at *tracking_uri* hold one run per trial (last row of an id wins).

    Raises ``ExportError`` if the store is unreachable, rejects a call, or an HTTP request gets
    no answer within *request_timeout* seconds (one retry).
    """
    with _http_deadline(tracking_uri, request_timeout):
        return _export(trials, tracking_uri, experiment, source, connect_timeout)


def _export(
    trials: Sequence[Trial],
    tracking_uri: str,
    experiment: str,
    source: str,
    connect_timeout: float,
) -> ExportResult:
    require("mlflow", "mlflow", purpose="exporting lineage to MLflow")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    _check_reachable(tracking_uri, connect_timeout)
    latest: dict[str, Trial] = {}
    for t in trials:
        latest[norm_id(t.exp_id)] = t  # dict order = first appearance, value = last row
    try:  # opening a store can fail in many ways (bad path, driver, schema): all are "can't"
        client = MlflowClient(tracking_uri=tracking_uri)
        exp = client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp is not None else client.create_experiment(experiment)
    except MlflowException as exc:
        raise ExportError(f"MLflow at {tracking_uri}: {_brief(exc.message)}") from None
    except Exception as exc:
        raise ExportError(
            f"cannot open MLflow tracking store {tracking_uri}: {_brief(exc)}"
        ) from None
    try:
        result = ExportResult(experiment_id=exp_id)
        existing = _existing_runs(client, exp_id)
        created: set[str] = set()
        # Pass 1: a run for every trial, so each child can name its parent's run id.
        for key, t in latest.items():
            if key in existing:
                continue
            want = desired_run(t, None, source)
            run = client.create_run(exp_id, start_time=want.start_ms, tags=want.tags)
            existing[key] = (
                run.info.run_id,
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
            changed = _sync_run(client, run_id, have, desired_run(t, parent_run, source), result)
            if key in created:
                continue
            if changed:
                result.updated += 1
            else:
                result.unchanged += 1
    except MlflowException as exc:
        raise ExportError(f"MLflow at {tracking_uri}: {_brief(exc.message)}") from None
    except OSError as exc:
        raise ExportError(f"MLflow at {tracking_uri}: {_brief(exc)}") from None
    return result


def _sync_run(
    client: Any, run_id: str, have: RunState, want: RunState, result: ExportResult
) -> bool:
    """Write to run *run_id* only what differs between *have* (the store) and *want*; whether
    anything was written. A param that changed is kept as it was (MLflow params are immutable)
    and counted in ``result.params_kept``."""
    from mlflow.entities import Metric, Param, RunTag

    tags = [RunTag(k, v) for k, v in want.tags.items() if have.tags.get(k) != v]
    params = []
    for k, v in want.params.items():
        if k not in have.params:
            params.append(Param(k, v))
        elif have.params[k] != v:
            result.params_kept += 1
    ts = want.start_ms or 0
    # MLflow's latest value is the largest (step, timestamp, value): a changed value is
    # logged at a later timestamp so it wins even when it is smaller than the old one.
    later = max(ts, int(time.time() * 1000))
    metrics = [
        Metric(k, v, later if k in have.metrics else ts, 0)
        for k, v in want.metrics.items()
        if have.metrics.get(k) != v
    ]
    entities: list[Any] = [*metrics, *params, *tags]
    for part in _chunks(entities, _BATCH):
        client.log_batch(
            run_id,
            metrics=[e for e in part if isinstance(e, Metric)],
            params=[e for e in part if isinstance(e, Param)],
            tags=[e for e in part if isinstance(e, RunTag)],
        )
    status_changed = have.status != want.status or have.end_ms != want.end_ms
    if status_changed:
        client.set_terminated(run_id, status=want.status, end_time=want.end_ms)
    return bool(entities) or status_changed


def _existing_runs(client: Any, exp_id: str) -> dict[str, tuple[str, RunState]]:
    """Runs of the experiment carrying an exp_id tag (the oldest wins if one is duplicated)."""
    found: dict[str, tuple[str, RunState]] = {}
    token: str | None = None
    while True:
        page = client.search_runs(
            [exp_id], max_results=5000, page_token=token, order_by=["attributes.start_time ASC"]
        )
        for run in page:
            key = run.data.tags.get(EXP_TAG)
            if key is None or key in found:
                continue
            tags = dict(run.data.tags)
            state = RunState(
                tags.get("mlflow.runName", ""),
                tags,
                dict(run.data.params),
                dict(run.data.metrics),
                run.info.status,
                run.info.start_time,
                run.info.end_time,
            )
            found[key] = (run.info.run_id, state)
        token = page.token
        if not token:
            return found


def export_store(store: Any, tracking_uri: str, *, experiment: str | None = None) -> ExportResult:
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
    return export_trials(trials, tracking_uri, experiment=experiment, source=where)
