"""A whole ``bench serve`` run: preflight, warm-up, load points (or a max search), token counts,
the server's own metrics, and the generator's overhead.

Everything shares one ``httpx.AsyncClient``; bad input and an unusable server raise
:class:`ServeBenchError` before any load is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from fieldkit.nim import estimate_tokens
from fieldkit.servebench._loadgen import (
    TEMPLATE_TOKENS,
    PointRun,
    Target,
    run_concurrency,
    run_rate,
    send_one,
)
from fieldkit.servebench._metrics import (
    DEFAULT_PERCENTILES,
    PointMetrics,
    RequestRecord,
    point_metrics,
    steady_state,
)
from fieldkit.servebench._prometheus import parse_prometheus, server_view
from fieldkit.servebench._search import MaxSearch
from fieldkit.servebench._slo import SLOs
from fieldkit.servebench._transport import lean_transport_for
from fieldkit.servebench._workload import Prompt

__all__ = [
    "LoadPoint",
    "ServeBenchConfig",
    "ServeBenchError",
    "ServeBenchResult",
    "run_serve_bench",
    "served_models",
]

Mode = Literal["concurrency", "rate", "trace"]

AUX_TIMEOUT_S = 10.0
"""Default whole-call bound on each ``/models``, ``/metrics``, ``/tokenize`` and template
request (``ServeBenchConfig.aux_timeout_s``)."""
MAX_SCHEDULE_S = 86400.0
"""An open-loop point whose arrival schedule would span more than this is refused."""


class ServeBenchError(RuntimeError):
    """The run cannot start: server unreachable, unknown model, no streaming, bad settings."""


@dataclass(frozen=True, slots=True)
class ServeBenchConfig:
    """One run. ``loads`` are concurrencies (``mode="concurrency"``) or request rates in req/s
    (``mode="rate"``, ``inf`` = all at once). Each point takes the next ``num_requests``
    prompts, cycling; give ``num_requests × points`` distinct prompts so that no point reuses
    another's (a server's prompt cache would flatter the later points). ``find_max`` searches
    the highest load meeting ``slos`` for ``attainment`` of requests instead of running
    ``loads``."""

    target: Target
    prompts: Sequence[Prompt]
    mode: Mode = "concurrency"
    loads: Sequence[float] = (1,)
    num_requests: int = 16
    warmup: int = 1
    burstiness: float = 1.0
    max_concurrency: int | None = None
    seed: int = 0
    slos: SLOs = field(default_factory=lambda: SLOs({}))
    find_max: bool = False
    attainment: float = 0.9
    max_load: float = 64.0
    scrape_metrics: bool = True
    max_consecutive_errors: int = 3
    percentiles: Sequence[float] = DEFAULT_PERCENTILES
    aux_timeout_s: float = AUX_TIMEOUT_S
    steady_state: bool = False

    def __post_init__(self) -> None:
        t = self.target
        if not 0 < self.aux_timeout_s < math.inf:
            raise ServeBenchError(
                f"the auxiliary request timeout must be positive seconds, got {self.aux_timeout_s}"
            )
        if not 0 < t.timeout_s < math.inf:
            raise ServeBenchError(f"--timeout must be positive seconds (finite), got {t.timeout_s}")
        if t.api_key is not None and not (t.api_key.isascii() and t.api_key.isprintable()):
            raise ServeBenchError("--api-key must be printable ASCII (it is sent as a header)")
        if self.max_consecutive_errors < 0:
            raise ServeBenchError(
                f"--max-consecutive-errors must be >= 0, got {self.max_consecutive_errors}"
            )
        if not self.percentiles or not all(0 <= p <= 100 for p in self.percentiles):
            raise ServeBenchError(
                f"percentiles must be numbers within [0, 100], got {list(self.percentiles)}"
            )
        if self.num_requests < 1:
            raise ServeBenchError(f"--num-requests must be at least 1, got {self.num_requests}")
        if not self.prompts:
            raise ServeBenchError("no prompts to send")
        if self.warmup < 0:
            raise ServeBenchError(f"--warmup must be >= 0, got {self.warmup}")
        if not self.loads and not self.find_max:
            raise ServeBenchError("no load points given")
        for v in self.loads:
            if not v > 0 or (self.mode == "concurrency" and (v != int(v) or math.isinf(v))):
                what = "a positive integer" if self.mode == "concurrency" else "positive"
                raise ServeBenchError(f"each {self.mode} must be {what}, got {v:g}")
            if self.mode == "trace":
                if any(p.at is None for p in self.prompts):
                    raise ServeBenchError("a trace replay needs a send time on every prompt")
                span = max(p.at or 0.0 for p in self.prompts) / v
                if span > MAX_SCHEDULE_S:
                    raise ServeBenchError(
                        f"the trace at speed {v:g} would span {span:.3g} s; one point may span "
                        f"at most {MAX_SCHEDULE_S:g} s"
                    )
            if self.mode == "rate" and self.num_requests / v > MAX_SCHEDULE_S:
                raise ServeBenchError(
                    f"--rate {v:g} would spread {self.num_requests} requests over "
                    f"{self.num_requests / v:.3g} s; one point may span at most "
                    f"{MAX_SCHEDULE_S:g} s"
                )
        if self.mode != "concurrency" and any(p.conversation is not None for p in self.prompts):
            raise ServeBenchError("multi-turn conversations run in closed loop (--concurrency)")
        if self.find_max and not self.slos:
            raise ServeBenchError("--find-max needs at least one --slo")
        if self.find_max:
            start = min(self.loads) if self.loads else 1.0
            if not (0 < self.max_load < math.inf):
                raise ServeBenchError(
                    f"--max-load must be a positive finite number, got {self.max_load:g}"
                )
            if start > self.max_load:
                raise ServeBenchError(
                    f"--find-max starts at the lowest load given ({start:g}), above "
                    f"--max-load {self.max_load:g}"
                )
        if not 0 < self.attainment <= 1:
            raise ServeBenchError(f"--attainment must be within (0, 1], got {self.attainment}")


@dataclass(slots=True)
class LoadPoint:
    """One load point: its load, typed ``metrics`` (``summary`` is their JSON form), raw
    records, the server's view (``None`` where it exposes no metrics), whether it was cut short
    (``partial``, with the reason in ``note``) and ``warnings`` about what its figures mean."""

    mode: Mode
    load: float
    metrics: PointMetrics
    records: list[RequestRecord]
    server: dict[str, Any] | None
    generator_cpu_ms_per_request: float | None
    partial: bool = False
    note: str | None = None
    meets_slos: bool | None = None
    warnings: list[str] = field(default_factory=list)
    steady_window: dict[str, Any] | None = None

    @property
    def summary(self) -> dict[str, Any]:
        """The metrics as the JSON object ``--json`` prints."""
        return self.metrics.to_json()

    @property
    def label(self) -> str:
        return f"{self.mode}={self.load:g}"

    @property
    def all_failed(self) -> bool:
        """Requests were sent and none succeeded."""
        return self.metrics.requests > 0 and self.metrics.completed == 0

    def to_json(self, *, raw: bool = False) -> dict[str, Any]:
        # Standard JSON has no Infinity: an all-at-once rate is written as the string "inf".
        value: float | int | str = self.load if self.mode != "concurrency" else int(self.load)
        if isinstance(value, float) and math.isinf(value):
            value = "inf"
        load: dict[str, Any] = {self.mode: value}
        out: dict[str, Any] = {
            "load": load,
            **self.metrics.to_json(),
            "server_metrics": self.server,
            "generator_cpu_ms_per_request": self.generator_cpu_ms_per_request,
            "partial": self.partial,
            "note": self.note,
            "warnings": list(self.warnings),
            "steady_window": self.steady_window,
        }
        if self.meets_slos is not None:
            out["meets_slos"] = self.meets_slos
        if raw:
            out["requests_raw"] = [r.to_json() for r in self.records]
        return out


@dataclass(slots=True)
class ServeBenchResult:
    """Every point run (in order), the run's settings, and the max-search outcome if asked."""

    config: dict[str, Any]
    points: list[LoadPoint]
    partial: bool = False
    aborted: str | None = None
    find_max: dict[str, Any] | None = None

    @property
    def failed_points(self) -> list[LoadPoint]:
        """Points where requests were sent and every one failed."""
        return [p for p in self.points if p.all_failed]


class _Runner:
    def __init__(
        self,
        cfg: ServeBenchConfig,
        client: httpx.AsyncClient,
        on_point: Callable[[str, int], None] | None,
        on_request: Callable[[RequestRecord], None] | None,
    ) -> None:
        self.cfg, self.client = cfg, client
        self.on_point, self.on_request = on_point, on_request
        self.tokenizer: bool | None = None  # unknown until tried
        self.template: bool | None = None
        self.metrics = cfg.scrape_metrics
        self.batch = 0

    # --- preflight ----------------------------------------------------------------------------
    async def preflight(self) -> None:
        t = self.cfg.target
        try:
            async with asyncio.timeout(self.cfg.aux_timeout_s):
                resp = await self.client.get(
                    t.base_url.rstrip("/") + "/models", headers=t.headers()
                )
                await resp.aread()
        except TimeoutError:
            raise ServeBenchError(
                f"{t.base_url}/models gave no answer within {self.cfg.aux_timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise ServeBenchError(
                f"cannot reach {t.base_url}: {exc or type(exc).__name__}"
            ) from None
        if resp.status_code == 401 or resp.status_code == 403:
            raise ServeBenchError(f"{t.base_url} refused the API key (HTTP {resp.status_code})")
        ids: list[str] = []
        with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError, RecursionError):
            ids = [str(m["id"]) for m in resp.json().get("data") or []]
        if resp.status_code == 200 and ids and t.model not in ids:
            raise ServeBenchError(
                f"model {t.model!r} is not served at {t.base_url}; it serves: {', '.join(ids)}"
            )
        for i in range(max(1, self.cfg.warmup)):
            # Warm-up prompts share no prefix with measured ones (no prompt-cache hits).
            prompt = Prompt(({"role": "user", "content": f"Warm-up {i}: say hello."},), 4)
            rec = await send_one(
                self.client, t, prompt, RequestRecord(-1, 0.0), time.perf_counter()
            )
            if rec.error == "not_streaming":
                raise ServeBenchError(
                    f"{t.base_url} answered a stream=true request without streaming "
                    f"({rec.error_detail}); bench serve needs SSE streaming"
                )
            if rec.error is not None:
                detail = f": {rec.error_detail}" if rec.error_detail else ""
                hint = ""
                if t.ignore_eos and "ignore_eos" in (rec.error_detail or ""):
                    hint = " (this server refuses ignore_eos: pass --no-ignore-eos)"
                raise ServeBenchError(f"the warm-up request failed ({rec.error}){detail}{hint}")

    # --- one point ---------------------------------------------------------------------------
    def _prompts(self, n: int, offset: int = 0) -> list[Prompt]:
        ps = self.cfg.prompts
        return [ps[(offset + i) % len(ps)] for i in range(n)]

    async def _scrape(self) -> dict[str, float] | None:
        if not self.metrics:
            return None
        resp: httpx.Response | None = None
        for _ in range(2):  # a pooled connection the server closed fails once: try again
            try:
                async with asyncio.timeout(self.cfg.aux_timeout_s):
                    resp = await self.client.get(self.cfg.target.root + "/metrics")
                break
            except TimeoutError:
                self.metrics = False  # a server too slow to list its metrics: stop asking
                return None
            except httpx.HTTPError:
                continue
        if resp is None:
            return None  # unreachable just now: no view for this point, try again next time
        if resp.status_code != 200:  # no /metrics (or not enabled): stop asking
            self.metrics = False
            return None
        return parse_prometheus(resp.text)

    async def point(self, load: float) -> LoadPoint:
        cfg = self.cfg
        prompts = self._prompts(cfg.num_requests, offset=self.batch * cfg.num_requests)
        self.batch += 1
        if self.on_point is not None:
            self.on_point(f"{cfg.mode}={load:g}", len(prompts))
        before = await self._scrape()
        run: PointRun
        if cfg.mode == "concurrency":
            run = await run_concurrency(
                self.client,
                cfg.target,
                prompts,
                int(load),
                self.on_request,
                max_consecutive_errors=cfg.max_consecutive_errors,
            )
        else:
            offsets = None
            if cfg.mode == "trace":  # load is the replay speed: 2 = twice as fast
                first = prompts[0].at or 0.0
                offsets = [max((p.at or 0.0) - first, 0.0) / load for p in prompts]
            run = await run_rate(
                self.client,
                cfg.target,
                prompts,
                load if cfg.mode == "rate" else math.inf,
                burstiness=cfg.burstiness,
                seed=cfg.seed,
                max_concurrency=cfg.max_concurrency,
                progress=self.on_request,
                max_consecutive_errors=cfg.max_consecutive_errors,
                offsets=offsets,
            )
        after = await self._scrape() if before is not None else None
        await self._count_tokens(run.records, run.extra.get("sent_prompts", prompts))
        kept, duration = run.records, run.duration_s
        steady_note: str | None = None
        window: dict[str, Any] | None = None
        if cfg.steady_state:
            steady = steady_state(run.records)
            if steady is None:
                steady_note = "too few requests inside a steady window: every request is counted"
            else:
                kept, duration, (a, b) = steady
                window = {"start_s": a, "end_s": b, "requests": len(kept)}
        metrics = point_metrics(kept, duration, cfg.slos, cfg.percentiles)
        n = len(run.records)
        meets = None
        if cfg.slos:
            meets = (metrics.slo_attainment or 0.0) >= cfg.attainment and run.aborted is None
        return LoadPoint(
            cfg.mode,
            load,
            metrics,
            run.records,
            server_view(before, after) if before is not None and after is not None else None,
            run.generator_cpu_s / n * 1000.0 if n else None,
            partial=run.aborted is not None or n < len(prompts),
            note=run.aborted,
            meets_slos=meets,
            warnings=self._warnings(kept, metrics) + ([steady_note] if steady_note else []),
            steady_window=window,
        )

    def _warnings(self, records: Sequence[RequestRecord], m: PointMetrics) -> list[str]:
        out: list[str] = []
        if self.cfg.target.ignore_eos and m.short_outputs:
            short = [r for r in records if r.short_output]
            got = sum(r.output_tokens or 0 for r in short)
            asked = sum(r.max_tokens or 0 for r in short)
            out.append(
                f"{m.short_outputs} of {m.completed} replies were shorter than max_tokens "
                f"although ignore_eos was asked ({got} of {asked} tokens): the server may "
                "ignore ignore_eos, so these figures describe shorter replies than requested"
            )
        if m.implausible_usage:
            first = next(r.usage_rejected for r in records if r.usage_rejected)
            out.append(
                f"{m.implausible_usage} replies carried impossible usage counts ({first}); "
                "they were counted with the tokenizer or estimated instead"
            )
        return out

    # --- token counts ------------------------------------------------------------------------
    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        """JSON reply of a POST to the server root, or ``None`` (error, timeout, not JSON)."""
        t = self.cfg.target
        for _ in range(2):  # a pooled connection the server closed fails once: try again
            try:
                async with asyncio.timeout(self.cfg.aux_timeout_s):
                    resp = await self.client.post(t.root + path, json=body, headers=t.headers())
                return resp.json() if resp.status_code == 200 else None
            except httpx.HTTPError:
                continue
            except (TimeoutError, ValueError, RecursionError):
                return None
        return None

    async def _tokenize(self, text: str, *, special: bool = False) -> int | None:
        """The server tokenizer's count for *text*, or ``None`` (none, or an impossible one:
        negative or more tokens than bytes plus a template allowance)."""
        if self.tokenizer is False:
            return None
        t = self.cfg.target
        data = await self._post(
            "/tokenize",
            {"content": text, "prompt": text, "model": t.model, "add_special": special},
        )
        count: int | None = None
        if isinstance(data, dict):
            raw = data.get("count")
            if isinstance(raw, int) and not isinstance(raw, bool):
                count = raw
            elif isinstance(data.get("tokens"), list):
                count = len(data["tokens"])
        if count is not None and not 0 <= count <= len(text.encode()) + TEMPLATE_TOKENS:
            count = None
        self.tokenizer = count is not None
        return count

    async def _templated_tokens(self, prompt: Prompt) -> int | None:
        """Prompt tokens with the chat template applied (llama-server's ``/apply-template``
        then ``/tokenize``), or ``None`` where the server offers no such endpoint."""
        if self.tokenizer is False:
            return None
        if self.cfg.target.endpoint != "chat":  # sent as is: no template to apply
            return await self._tokenize(prompt.text, special=True)
        if self.template is False:
            return None
        data = await self._post("/apply-template", {"messages": list(prompt.messages)})
        text = data.get("prompt") if isinstance(data, dict) else None
        if not isinstance(text, str):
            self.template = False
            return None
        self.template = True
        return await self._tokenize(text, special=True)

    async def _count_tokens(
        self, records: Sequence[RequestRecord], prompts: Sequence[Prompt]
    ) -> None:
        """Fill counts the server's ``usage`` did not give. Output: the server's tokenizer,
        else an estimate. Input: only the server's count of the templated prompt goes in
        ``input_tokens``; the client's estimate always goes in ``input_tokens_estimated``."""
        generates = self.cfg.target.generates
        for rec in records:
            if not rec.ok:
                continue
            prompt = prompts[rec.index]
            rec.input_tokens_estimated = estimate_tokens(prompt.text)
            if generates and rec.token_source is None:
                out = await self._tokenize(rec.text)
                if out is not None:
                    # each content chunk carried at least one token, while re-tokenizing the
                    # reply may merge pieces generated apart: the chunk count is a floor
                    rec.output_tokens, rec.token_source = max(out, rec.chunks), "tokenizer"
                else:
                    rec.output_tokens, rec.token_source = estimate_tokens(rec.text), "estimated"
            if rec.input_tokens is None:
                n = await self._templated_tokens(prompt)
                if n is not None:
                    rec.input_tokens, rec.input_token_source = n, "tokenizer"


async def _run(
    cfg: ServeBenchConfig,
    on_point: Callable[[str, int], None] | None,
    on_request: Callable[[RequestRecord], None] | None,
    started: list[ServeBenchResult] | None = None,
) -> ServeBenchResult:
    if cfg.mode != "concurrency":
        width = cfg.max_concurrency or cfg.num_requests
    else:
        width = int(max(cfg.loads or (1,)))
    if cfg.find_max:
        width = max(width, int(cfg.max_load))
    limits = httpx.Limits(max_connections=max(width, 1), max_keepalive_connections=max(width, 1))
    timeout = httpx.Timeout(cfg.target.timeout_s, connect=10.0)
    transport = lean_transport_for(cfg.target.base_url, max(width, 1))
    async with httpx.AsyncClient(limits=limits, timeout=timeout, transport=transport) as client:
        runner = _Runner(cfg, client, on_point, on_request)
        await runner.preflight()
        points: list[LoadPoint] = []
        result = ServeBenchResult(_describe(cfg), points)
        if started is not None:
            started.append(result)  # the caller keeps the finished points if interrupted
        if cfg.find_max:
            start = min(cfg.loads) if cfg.loads else 1.0
            search = MaxSearch(start, cfg.max_load, integer=cfg.mode == "concurrency")
            while (value := search.next()) is not None:
                pt = await runner.point(value)
                points.append(pt)
                if pt.partial:
                    break
                search.record(value, bool(pt.meets_slos))
            result.find_max = {
                "mode": cfg.mode,
                "best": search.best,
                "first_failing": search.failed,
                "tried": [{"load": v, "meets_slos": ok} for v, ok in search.tried],
                "attainment": cfg.attainment,
            }
        else:
            for load in cfg.loads:
                pt = await runner.point(load)
                points.append(pt)
                if pt.partial:
                    break
        bad = next((p for p in points if p.partial), None)
        if bad is not None:
            result.partial = True
            result.aborted = bad.note or "the point ended early"
        return result


def _describe(cfg: ServeBenchConfig) -> dict[str, Any]:
    return {
        "base_url": cfg.target.base_url,
        "model": cfg.target.model,
        "mode": cfg.mode,
        "loads": list(cfg.loads),
        "num_requests": cfg.num_requests,
        "warmup": cfg.warmup,
        "burstiness": cfg.burstiness if cfg.mode == "rate" else None,
        "max_concurrency": cfg.max_concurrency,
        "seed": cfg.seed,
        "ignore_eos": cfg.target.ignore_eos,
        "endpoint": cfg.target.endpoint,
        "slos_ms": dict(cfg.slos.limits_ms),
        "find_max": cfg.find_max,
        "timeout_s": cfg.target.timeout_s,
        "max_consecutive_errors": cfg.max_consecutive_errors,
        "percentiles": list(cfg.percentiles),
        "steady_state": cfg.steady_state,
    }


def run_serve_bench(
    cfg: ServeBenchConfig,
    *,
    on_point: Callable[[str, int], None] | None = None,
    on_request: Callable[[RequestRecord], None] | None = None,
) -> ServeBenchResult:
    """Run *cfg* to the end (blocking). ``on_point(label, n)`` is called as each point starts,
    ``on_request(record)`` as each request ends (for progress bars).

    Ctrl-C (``KeyboardInterrupt``) after the first point started returns the points finished so
    far, marked ``partial`` with ``aborted="interrupted"``; before that it propagates.
    """
    started: list[ServeBenchResult] = []
    try:
        return asyncio.run(_run(cfg, on_point, on_request, started))
    except KeyboardInterrupt:
        if not started:
            raise
        result = started[0]
        result.partial, result.aborted = True, "interrupted"
        return result


def served_models(base_url: str, api_key: str | None = None, timeout_s: float = 10.0) -> list[str]:
    """The model ids ``GET {base_url}/models`` lists, within *timeout_s* for the whole call;
    :class:`ServeBenchError` if unreachable, too slow or not a model list."""
    if api_key is not None and not (api_key.isascii() and api_key.isprintable()):
        raise ServeBenchError("--api-key must be printable ASCII (it is sent as a header)")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(timeout=timeout_s) as client, asyncio.timeout(timeout_s):
            resp = await client.get(base_url.rstrip("/") + "/models", headers=headers)
            await resp.aread()
            return resp

    try:
        resp = asyncio.run(get())
    except TimeoutError:
        raise ServeBenchError(f"{base_url}/models gave no answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise ServeBenchError(f"cannot reach {base_url}: {exc or type(exc).__name__}") from None
    if resp.status_code != 200:
        raise ServeBenchError(f"{base_url}/models answered HTTP {resp.status_code}")
    try:
        return [str(m["id"]) for m in resp.json().get("data") or []]
    except (ValueError, AttributeError, TypeError, KeyError, RecursionError):
        raise ServeBenchError(f"{base_url}/models did not answer an OpenAI model list") from None
