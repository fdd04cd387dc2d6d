"""The few MLflow tracking calls an export makes, for an HTTP tracking server, with bounds.

MLflow's own client bounds each socket read, not a request, and reads any reply whole: a
server dripping a byte a second, or answering with hundreds of megabytes, holds it for
minutes or gigabytes. Here each request has one whole-request deadline (connect, send and
every read; ``request_timeout``) and a reply larger than ``max_response_bytes`` is refused
while it streams in, compressed or not (a compression bomb is refused before it expands);
a redirect is an error, never followed. Endpoints are MLflow's REST API 2.0.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from fieldkit.nim.deadline import Deadline, bounded, transport

__all__ = ["Batch", "RestError", "RestTracking", "RunRecord"]


class RestError(Exception):
    """The tracking server answered a call with an error, or not in time, or too much."""

    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Batch:
    """One ``log_batch`` call's entities: metrics as ``(key, value, timestamp_ms, step)``,
    params and tags as ``(key, value)``."""

    metrics: list[tuple[str, float, int, int]]
    params: list[tuple[str, str]]
    tags: list[tuple[str, str]]


@dataclass(frozen=True)
class RunRecord:
    """One run as the server holds it."""

    run_id: str
    status: str
    start_ms: int | None
    end_ms: int | None
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]


def _auth_headers() -> dict[str, str]:
    """MLflow's own environment variables for a protected server."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if user:
        pair = f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    return {}


def _pairs(items: Any) -> dict[str, str]:
    if not isinstance(items, list):
        return {}
    return {
        str(i["key"]): str(i.get("value", "")) for i in items if isinstance(i, dict) and "key" in i
    }


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _run(obj: Any) -> RunRecord:
    info = obj.get("info", {}) if isinstance(obj, dict) else {}
    data = obj.get("data", {}) if isinstance(obj, dict) else {}
    metrics: dict[str, float] = {}
    for m in data.get("metrics", []) if isinstance(data, dict) else []:
        try:
            metrics[str(m["key"])] = float(m["value"])
        except (KeyError, TypeError, ValueError):
            continue
    return RunRecord(
        run_id=str(info.get("run_id") or info.get("run_uuid") or ""),
        status=str(info.get("status", "")),
        start_ms=_int_or_none(info.get("start_time")),
        end_ms=_int_or_none(info.get("end_time")),
        tags=_pairs(data.get("tags")) if isinstance(data, dict) else {},
        params=_pairs(data.get("params")) if isinstance(data, dict) else {},
        metrics=metrics,
    )


def _decoder(endpoint: str, encoding: str) -> zlib._Decompress | None:
    """A bounded decompressor for the reply's content encoding; None for identity."""
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return None
    if enc in ("gzip", "x-gzip", "deflate"):
        return zlib.decompressobj(31 if "gzip" in enc else 15)
    raise RestError(f"{endpoint}: reply in unsupported content encoding {enc[:40]!r}")


def _decoded(decoder: zlib._Decompress | None, raw: bytes, room: int) -> Iterator[bytes]:
    """*raw* decoded, never more than *room* bytes in one piece, so a compression bomb is
    refused by the reply cap before it is expanded."""
    if decoder is None:
        yield raw
        return
    try:
        while raw:
            out = decoder.decompress(raw, max(room, 1))
            raw = decoder.unconsumed_tail
            room -= len(out)
            yield out
    except zlib.error as exc:
        raise RestError(f"the reply is not valid compressed data: {exc}") from None


class RestTracking:
    """An MLflow tracking server at *uri*, one bounded request per call."""

    def __init__(self, uri: str, *, request_timeout: float, max_response_bytes: int) -> None:
        self.uri = uri.rstrip("/")
        self.request_timeout = request_timeout
        self.max_response_bytes = max_response_bytes
        headers = {**_auth_headers(), "Accept-Encoding": "identity"}
        self._http = httpx.Client(transport=transport(), timeout=request_timeout, headers=headers)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, endpoint: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.uri}/api/2.0/mlflow/{endpoint}"
        what = f"{endpoint} took longer than request_timeout={self.request_timeout:g} s"
        limit = self.max_response_bytes
        chunks: list[bytes] = []
        try:
            with bounded(Deadline(self.request_timeout, what)):
                kwargs: dict[str, Any] = {"json": body} if method == "POST" else {"params": body}
                with self._http.stream(method, url, **kwargs) as resp:
                    declared = _int_or_none(resp.headers.get("content-length"))
                    if declared is not None and declared > limit:
                        raise self._too_big(endpoint, declared)
                    decoder = _decoder(endpoint, resp.headers.get("content-encoding", ""))
                    size = 0
                    for raw in resp.iter_raw():
                        for chunk in _decoded(decoder, raw, limit - size + 1):
                            size += len(chunk)
                            if size > limit:
                                raise self._too_big(endpoint, size)
                            chunks.append(chunk)
                    status = resp.status_code
                    location = resp.headers.get("location", "")
        except httpx.TimeoutException:
            raise RestError(f"{what} (no complete answer)") from None
        except httpx.HTTPError as exc:
            raise RestError(f"{endpoint}: {exc}") from None
        raw = b"".join(chunks)
        try:
            payload = json.loads(raw) if raw.strip() else {}
        except (ValueError, RecursionError):
            payload = None
        if 300 <= status < 400:  # not followed: a write answered by a redirect is not done
            raise RestError(
                f"{endpoint}: HTTP {status} redirect to {location[:200]!r}; give the tracking "
                "server's final URL",
                status=status,
            )
        if status >= 400:
            code = payload.get("error_code", "") if isinstance(payload, dict) else ""
            message = payload.get("message", "") if isinstance(payload, dict) else ""
            detail = message or raw[:300].decode("utf-8", "replace")
            raise RestError(f"{endpoint}: HTTP {status} {code} {detail}", code=code, status=status)
        if not isinstance(payload, dict):
            raise RestError(f"{endpoint}: the reply is not a JSON object")
        return payload

    def _too_big(self, endpoint: str, size: int) -> RestError:
        return RestError(
            f"{endpoint}: reply of {size:,}+ bytes exceeds max_response_bytes="
            f"{self.max_response_bytes:,}"
        )

    def experiment_id(self, name: str) -> str:
        """The id of experiment *name*, created when missing."""
        try:
            found = self._call("GET", "experiments/get-by-name", {"experiment_name": name})
        except RestError as exc:
            if exc.code != "RESOURCE_DOES_NOT_EXIST":  # a 404 web page is not "no experiment"
                raise
        else:
            exp_id = found.get("experiment", {}).get("experiment_id")
            if exp_id:
                return str(exp_id)
        made = self._call("POST", "experiments/create", {"name": name})
        if not made.get("experiment_id"):
            raise RestError("experiments/create: no experiment_id in the reply")
        return str(made["experiment_id"])

    def search(self, exp_id: str, token: str | None) -> tuple[list[RunRecord], str | None]:
        """One page of the experiment's runs, oldest first, and the next page's token."""
        body: dict[str, Any] = {
            "experiment_ids": [exp_id],
            "max_results": 1000,
            "order_by": ["attributes.start_time ASC"],
        }
        if token:
            body["page_token"] = token
        page = self._call("POST", "runs/search", body)
        runs = page.get("runs", [])
        nxt = page.get("next_page_token")
        return [_run(r) for r in runs if isinstance(r, dict)] if isinstance(runs, list) else [], (
            str(nxt) if nxt else None
        )

    def create_run(self, exp_id: str, start_ms: int | None, tags: dict[str, str]) -> str:
        body: dict[str, Any] = {
            "experiment_id": exp_id,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        if start_ms is not None:
            body["start_time"] = start_ms
        made = self._call("POST", "runs/create", body)
        run_id = _run(made.get("run", {})).run_id
        if not run_id:
            raise RestError("runs/create: no run id in the reply")
        return run_id

    def log_batch(self, run_id: str, batch: Batch) -> None:
        self._call(
            "POST",
            "runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [
                    {"key": k, "value": v, "timestamp": ts, "step": step}
                    for k, v, ts, step in batch.metrics
                ],
                "params": [{"key": k, "value": v} for k, v in batch.params],
                "tags": [{"key": k, "value": v} for k, v in batch.tags],
            },
        )

    def set_terminated(self, run_id: str, status: str, end_ms: int | None) -> None:
        body: dict[str, Any] = {"run_id": run_id, "status": status}
        if end_ms is not None:
            body["end_time"] = end_ms
        self._call("POST", "runs/update", body)
