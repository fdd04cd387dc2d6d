"""Log a ``bench serve`` run to MLflow: one MLflow run per load point (and per repeat).

Each run holds the sweep's configuration as params, the point's figures as metrics (latencies
in ms as ``ttft_ms_p99``…, throughputs, token counts, errors) and tags naming the load and
whether the point was cut short. ``mlflow`` is imported lazily (the ``mlflow`` extra); nothing
in the caller's environment is changed. An HTTP tracking server is checked for a listening
socket within *connect_timeout* first; after that MLflow's own request timeout applies.
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from fieldkit._lazy import require
from fieldkit.servebench._latency import LATENCIES
from fieldkit.servebench._metrics import COUNT_FIELDS

if TYPE_CHECKING:
    from fieldkit.servebench._run import LoadPoint

__all__ = [
    "BenchRun",
    "MlflowLogError",
    "bench_run",
    "check_tracking_store",
    "flat_figures",
    "log_bench_runs",
    "log_points",
    "point_run",
]

_VALUE_LIMIT = 500  # far under MLflow's param value limit (6000)


class MlflowLogError(ValueError):
    """The tracking store could not be reached or refused the runs (the message says which)."""


@dataclass(frozen=True, slots=True)
class BenchRun:
    """What one MLflow run holds: its name, params, finite metrics, tags and final status."""

    name: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    failed: bool = False


def _param(value: object) -> str:
    return _brief(repr(value) if isinstance(value, float) else value, _VALUE_LIMIT)


def _finite(out: dict[str, float], name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if math.isfinite(value):
        out[name] = float(value)


_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. :/]")  # MLflow's allowed key characters


def _key(name: str) -> str:
    return _UNSAFE.sub("_", name)[:250]


def flat_figures(figures: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers in nested *figures*, keyed by their path joined with ``_`` (``{"hit_rate":
    {"dense": {"hit@5": 1.0}}}`` → ``hit_rate_dense_hit_5``); other values are left out."""
    out: dict[str, float] = {}
    for k, v in figures.items():
        name = f"{prefix}_{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(flat_figures(v, name))
        else:
            _finite(out, _key(name), v)
    return out


def bench_run(
    name: str,
    config: Mapping[str, Any],
    figures: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
) -> BenchRun:
    """A :class:`BenchRun` from a bench's *config* (scalar values become params) and its nested
    *figures* (every finite number becomes a metric, see :func:`flat_figures`)."""
    params = {
        _key(k): _param(v)
        for k, v in config.items()
        if isinstance(v, str | int) or (isinstance(v, float) and math.isfinite(v))
    }
    return BenchRun(name, params, flat_figures(figures), dict(tags or {}))


def point_run(
    point: LoadPoint, config: Mapping[str, Any], *, repeat: int | None = None
) -> BenchRun:
    """The MLflow run of one load point: *config* (``ServeBenchResult.config``) as params."""
    m = point.metrics
    params = {k: _param(v) for k, v in config.items() if v is not None and k != "loads"}
    params["load"] = _param(point.load)
    metrics: dict[str, float] = {}
    for name in (
        *COUNT_FIELDS,
        "implausible_usage",
        "short_outputs",
        "retried_stale_connection",
        "goodput",
        "good_requests",
        "slo_attainment",
    ):
        _finite(metrics, name, getattr(m, name))
    for lat in LATENCIES:
        for key, value in m.latency[lat.name].to_json().items():
            _finite(metrics, f"{lat.key}_{key}", value)
    for kind, count in m.errors.items():
        _finite(metrics, _key(f"errors_{kind}"), count)
    _finite(metrics, "generator_cpu_ms_per_request", point.generator_cpu_ms_per_request)
    tags = {
        "fieldkit.bench": "serve",
        "fieldkit.mode": point.mode,
        "fieldkit.partial": str(point.partial).lower(),
    }
    if point.note:
        tags["fieldkit.note"] = _param(point.note)
    if point.meets_slos is not None:
        tags["fieldkit.meets_slos"] = str(point.meets_slos).lower()
    name = point.label if repeat is None else f"{point.label} repeat {repeat}"
    if repeat is not None:
        params["repeat"] = str(repeat)
    return BenchRun(name, params, metrics, tags, failed=point.partial or point.all_failed)


def _check_reachable(uri: str, timeout: float) -> None:
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        with socket.create_connection((parsed.hostname or "localhost", port), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        raise MlflowLogError(f"cannot reach MLflow at {uri}: {exc}") from None


def _open(tracking_uri: str, experiment: str, connect_timeout: float) -> tuple[Any, str]:
    require("mlflow", "mlflow", purpose="logging a bench run to MLflow")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    _check_reachable(tracking_uri, connect_timeout)
    try:  # opening a store can fail in many ways (bad path, driver, schema): all are "can't"
        client = MlflowClient(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment)
        exp_id = found.experiment_id if found is not None else client.create_experiment(experiment)
    except MlflowException as exc:
        raise MlflowLogError(f"MLflow at {tracking_uri}: {_brief(exc.message)}") from None
    except Exception as exc:
        raise MlflowLogError(f"cannot open MLflow store {tracking_uri}: {_brief(exc)}") from None
    return client, str(exp_id)


def check_tracking_store(
    tracking_uri: str,
    *,
    experiment: str = "fieldkit-bench-serve",
    connect_timeout: float = 5.0,
) -> None:
    """Open *experiment* at *tracking_uri* (creating it when missing) so that a store that
    cannot take the runs is refused before a benchmark starts; :class:`MlflowLogError` if not."""
    _open(tracking_uri, experiment, connect_timeout)


def log_bench_runs(
    runs: Sequence[BenchRun],
    tracking_uri: str,
    *,
    experiment: str,
    connect_timeout: float = 5.0,
) -> list[str]:
    """Create one finished run per :class:`BenchRun` in *experiment* (created when missing) at
    *tracking_uri*; returns their run ids in order. :class:`MlflowLogError` on any failure."""
    client, exp_id = _open(tracking_uri, experiment, connect_timeout)
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException

    ids: list[str] = []
    for run in runs:
        run_id: str | None = None
        try:
            stamp = int(time.time() * 1000)
            run_id = client.create_run(exp_id, run_name=run.name, start_time=stamp).info.run_id
            client.log_batch(
                run_id,
                metrics=[Metric(k, v, stamp, 0) for k, v in run.metrics.items()],
                params=[Param(k, v) for k, v in run.params.items()],
                tags=[RunTag(k, v) for k, v in run.tags.items()],
            )
            client.set_terminated(run_id, status="FAILED" if run.failed else "FINISHED")
        except (MlflowException, OSError) as exc:
            if run_id is not None:  # never leave a run RUNNING
                with contextlib.suppress(MlflowException, OSError):
                    client.set_terminated(run_id, status="FAILED")
            detail = exc.message if isinstance(exc, MlflowException) else exc
            raise MlflowLogError(
                f"MLflow at {tracking_uri} refused run {run.name!r}: {_brief(detail)}"
            ) from None
        ids.append(run_id)
    return ids


def _brief(detail: object, limit: int = 300) -> str:
    """*detail* as one line of at most *limit* characters (whitespace runs become one space)."""
    text = " ".join(str(detail).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def log_points(
    runs: Sequence[Sequence[LoadPoint]],
    config: Mapping[str, Any],
    tracking_uri: str,
    *,
    experiment: str = "fieldkit-bench-serve",
    connect_timeout: float = 5.0,
) -> list[str]:
    """Log every load point of each repeat (``runs[r]`` is repeat ``r + 1``) as an MLflow run;
    with one repeat the runs carry no repeat number. Returns the run ids."""
    many = len(runs) > 1
    bench = [
        point_run(p, config, repeat=r if many else None)
        for r, points in enumerate(runs, 1)
        for p in points
    ]
    return log_bench_runs(
        bench, tracking_uri, experiment=experiment, connect_timeout=connect_timeout
    )
