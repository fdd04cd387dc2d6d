"""The server's own view: Prometheus text from ``/metrics`` (pure parsing and differencing).

llama-server (started with ``--metrics``) and vLLM expose counters and histograms; a scrape before
and after a load point, differenced, gives the server's token counts and mean latencies for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["parse_prometheus", "server_view"]


def parse_prometheus(text: str) -> dict[str, float]:
    """``{metric_name: value}`` with samples of one name summed across label sets.

    Comments and malformed lines are skipped; only the name and the first value field are read.
    """
    out: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        brace = line.find("{")
        if brace >= 0:
            end = line.rfind("}")
            if end < brace:
                continue
            name, rest = line[:brace], line[end + 1 :]
        else:
            name, _, rest = line.partition(" ")
        fields = rest.split()
        if not name or not fields:
            continue
        try:
            value = float(fields[0])
        except ValueError:
            continue
        if math.isnan(value):
            continue
        out[name] = out.get(name, 0.0) + value
    return out


def _delta(before: Mapping[str, float], after: Mapping[str, float], name: str) -> float | None:
    if name not in after:
        return None
    return after[name] - before.get(name, 0.0)


def _ratio(
    before: Mapping[str, float], after: Mapping[str, float], hits: str, queries: str
) -> float | None:
    """vLLM's prefix-cache hits / queries over the interval (either the ``vllm:`` or the older
    ``vllm:gpu_`` spelling), ``None`` when not exposed or nothing was queried."""
    for prefix in ("vllm:", "vllm:gpu_"):
        h, q = _delta(before, after, prefix + hits), _delta(before, after, prefix + queries)
        if h is not None and q:
            return h / q
    return None


def _hist_mean_ms(
    before: Mapping[str, float], after: Mapping[str, float], base: str
) -> float | None:
    s, c = _delta(before, after, base + "_sum"), _delta(before, after, base + "_count")
    if s is None or not c:
        return None
    return s / c * 1000.0


def server_view(
    before: Mapping[str, float], after: Mapping[str, float]
) -> dict[str, float | str | None] | None:
    """What the server reports for the interval between two scrapes, or ``None`` when neither
    llama.cpp's nor vLLM's metric names are present.

    llama.cpp times generation per slot, so its ``tpot_mean_ms`` is the mean time of one decode
    step of one request (comparable to client TPOT at concurrency 1).
    """
    if any(k.startswith("vllm:") for k in after):
        return {
            "server": "vllm",
            "prompt_tokens": _delta(before, after, "vllm:prompt_tokens_total"),
            "generation_tokens": _delta(before, after, "vllm:generation_tokens_total"),
            "requests": _delta(before, after, "vllm:e2e_request_latency_seconds_count"),
            "ttft_mean_ms": _hist_mean_ms(before, after, "vllm:time_to_first_token_seconds"),
            "tpot_mean_ms": _hist_mean_ms(
                before, after, "vllm:request_time_per_output_token_seconds"
            )
            or _hist_mean_ms(before, after, "vllm:time_per_output_token_seconds"),
            "itl_mean_ms": _hist_mean_ms(before, after, "vllm:inter_token_latency_seconds"),
            "e2e_mean_ms": _hist_mean_ms(before, after, "vllm:e2e_request_latency_seconds"),
            "preemptions": _delta(before, after, "vllm:num_preemptions_total"),
            "prefix_cache_hit_rate": _ratio(
                before, after, "prefix_cache_hits_total", "prefix_cache_queries_total"
            ),
        }
    if any(k.startswith("llamacpp:") for k in after):
        gen = _delta(before, after, "llamacpp:tokens_predicted_total")
        gen_s = _delta(before, after, "llamacpp:tokens_predicted_seconds_total")
        prompt = _delta(before, after, "llamacpp:prompt_tokens_total")
        prompt_s = _delta(before, after, "llamacpp:prompt_seconds_total")
        cached = _delta(before, after, "llamacpp:prompt_tokens_cached_total")
        # prompt_tokens counts the tokens evaluated; cached ones were reused from a slot's cache.
        seen = (prompt or 0.0) + (cached or 0.0)
        return {
            "server": "llama.cpp",
            "prompt_tokens": prompt,
            "generation_tokens": gen,
            "prompt_tokens_cached": cached,
            "prefix_cache_hit_rate": cached / seen if cached is not None and seen else None,
            "decode_calls": _delta(before, after, "llamacpp:n_decode_total"),
            "prompt_tokens_per_s": prompt / prompt_s if prompt and prompt_s else None,
            "generation_tokens_per_s": gen / gen_s if gen and gen_s else None,
            "tpot_mean_ms": gen_s / gen * 1000.0 if gen and gen_s else None,
        }
    return None
