"""Parsers of llama-perplexity / llama-bench / nvidia-smi output: pinned values, captured output
of several llama.cpp versions (tests/quant/data), and property tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldkit.quant import _parse_nvidia_smi_csv, parse_llama_bench_output, parse_perplexity_output
from fieldkit.quant._parse import parse_nvidia_smi_csv
from tests._growth import assert_linear

DATA = Path(__file__).parent / "data"

BENCH_TABLE = (
    "| model | size | params | backend | ngl | test | t/s |\n"
    "| --- | --- | --- | --- | --- | --- | --- |\n"
    "| llama 8B | 5GiB | 8.03 B | CUDA | 99 | pp 512 | 145.67 ± 0.87 |\n"
    "| llama 8B | 5GiB | 8.03 B | CUDA | 99 | tg 128 |  23.45 ± 0.12 |\n"
)


# --- values pinned by the original's tests --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1]4.5,[2]5.0,[3]7.1\nFinal estimate: PPL = 7.123 +/- 0.045\n", 7.123),
        ("Computing ...\nperplexity = 8.501\n", 8.501),
        ("Final estimate: PPL = 9.000\nFinal estimate: PPL = 7.500", 7.5),
    ],
)
def test_perplexity_pinned(text: str, expected: float) -> None:
    assert parse_perplexity_output(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text", ["", "nothing about ppl here", "Final estimate: PPL = nan", "... = inf"]
)
def test_perplexity_none(text: str) -> None:
    assert parse_perplexity_output(text) is None


def test_bench_pinned() -> None:
    assert parse_llama_bench_output(BENCH_TABLE, metric="tg") == pytest.approx(23.45)
    assert parse_llama_bench_output(BENCH_TABLE) == pytest.approx(23.45)
    assert parse_llama_bench_output(BENCH_TABLE, metric="pp") == pytest.approx(145.67)
    assert parse_llama_bench_output("nothing") is None


def test_nvidia_smi_csv_pinned() -> None:
    assert _parse_nvidia_smi_csv("85, 1980") == (85.0, 1980.0)
    assert _parse_nvidia_smi_csv("") == (0.0, 0.0)
    assert _parse_nvidia_smi_csv("not-a-number, another") == (0.0, 0.0)


# --- beyond the original ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Final estimate: PPL = 12", 12.0),  # integer
        ("Final estimate: PPL = 1.5e3 +/- 2", 1500.0),  # exponent
        ("final  estimate :  ppl  =  3.25", 3.25),
        ("[1]4.5,[2]5.0,[3]7.1,", 7.1),  # pre-2023 output: no final line, last running value
        ("Final estimate: PPL = 5.0\nFinal estimate: PPL = -nan +/- 0", None),  # last is NaN
        ("happle = 3.0", None),  # not a lead-in
    ],
)
def test_perplexity_extensions(text: str, expected: float | None) -> None:
    got = parse_perplexity_output(text)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ppl_real.txt", 36.3201),  # this repo's build, timestamped log lines
        ("ppl_2023_final.txt", 5.9066),
        ("ppl_2023_early.txt", 6.1953),
    ],
)
def test_perplexity_captured_outputs(name: str, expected: float) -> None:
    text = (DATA / name).read_text()
    assert parse_perplexity_output(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("name", "tg", "pp"),
    [
        ("bench_2023_md.txt", 130.27, 2400.76),
        ("bench_2025_md_depth.txt", 42.19, 1650.53),
        # captured from this repo's llama.cpp build on a busy 2-core CPU (hence the low rates)
        ("bench_real_md.txt", 0.43, 5.59),
        ("bench_real_json.txt", 0.556767, 5.781582),
        ("bench_real_jsonl.txt", 1.168684, 4.953411),
        ("bench_real_csv.txt", 0.908817, 4.611123),
    ],
)
def test_bench_captured_outputs(name: str, tg: float, pp: float) -> None:
    text = (DATA / name).read_text()
    assert parse_llama_bench_output(text, metric="tg") == pytest.approx(tg)
    assert parse_llama_bench_output(text, metric="pp") == pytest.approx(pp)


def test_bench_skips_unconvertible_and_ascii_plus_minus() -> None:
    text = "| tg 128 | 1.2.3 ± 0.1 |\n| tg128 | 19.5 +/- 0.2 |\n"
    assert parse_llama_bench_output(text, metric="TG") == pytest.approx(19.5)
    assert parse_llama_bench_output(text, metric="pp") is None


def test_bench_json_pg_rows_are_neither_metric() -> None:
    rows = [{"n_prompt": 16, "n_gen": 8, "avg_ts": 9.0}, {"n_prompt": 0, "n_gen": 8, "avg_ts": 7.0}]
    assert parse_llama_bench_output(json.dumps(rows), metric="tg") == 7.0
    assert parse_llama_bench_output(json.dumps(rows), metric="pp") is None


def test_nvidia_smi_strict_parser_marks_unreadable_fields() -> None:
    assert parse_nvidia_smi_csv("[N/A], [N/A]") == (None, None)
    assert parse_nvidia_smi_csv("41, [N/A]\n99, 1\n") == (41.0, None)
    assert _parse_nvidia_smi_csv("[N/A], [N/A]") == (0.0, 0.0)


# --- properties -----------------------------------------------------------------------------

finite = st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False)
noise = st.text(alphabet=st.characters(blacklist_characters="[=±|+"), max_size=200)


@given(values=st.lists(finite, min_size=1, max_size=5), before=noise, after=noise)
def test_perplexity_last_final_estimate_wins(values: list[float], before: str, after: str) -> None:
    lines = [f"Final estimate: PPL = {v:.4f} +/- 0.01" for v in values]
    text = before + "\n" + "\n".join(lines) + "\n" + after
    assert parse_perplexity_output(text) == pytest.approx(float(f"{values[-1]:.4f}"))


@given(st.text(max_size=500))
def test_perplexity_never_raises_and_is_finite(text: str) -> None:
    got = parse_perplexity_output(text)
    assert got is None or (math.isfinite(got) and got >= 0)


@given(
    pp=finite,
    tg=finite,
    n=st.integers(1, 8192),
    compact=st.booleans(),
    order=st.booleans(),
)
def test_bench_table_round_trip(pp: float, tg: float, n: int, compact: bool, order: bool) -> None:
    sep = "" if compact else " "
    rows = [
        f"| llama ?B | 1 GiB | 0.1 B | CPU | 99 | pp{sep}{n} | {pp:.2f} ± 0.5 |",
        f"| llama ?B | 1 GiB | 0.1 B | CPU | 99 | tg{sep}{n} | {tg:.2f} ± 0.5 |",
    ]
    text = "\n".join(rows if order else rows[::-1])
    assert parse_llama_bench_output(text, metric="pp") == pytest.approx(float(f"{pp:.2f}"))
    assert parse_llama_bench_output(text, metric="tg") == pytest.approx(float(f"{tg:.2f}"))


@given(pp=finite, tg=finite, jsonl=st.booleans())
def test_bench_json_round_trip(pp: float, tg: float, jsonl: bool) -> None:
    rows = [
        {"n_prompt": 64, "n_gen": 0, "avg_ts": pp, "model_type": "llama | ± |"},
        {"n_prompt": 0, "n_gen": 32, "avg_ts": tg},
    ]
    text = "\n".join(json.dumps(r) for r in rows) if jsonl else json.dumps(rows, indent=2)
    assert parse_llama_bench_output(text, metric="pp") == pytest.approx(pp)
    assert parse_llama_bench_output(text, metric="tg") == pytest.approx(tg)


@given(st.text(max_size=300))
def test_bench_never_raises(text: str) -> None:
    got = parse_llama_bench_output(text)
    assert got is None or math.isfinite(got)


@given(temp=st.integers(0, 120), clock=st.integers(0, 3000), extra=st.integers(0, 3))
def test_nvidia_smi_round_trip(temp: int, clock: int, extra: int) -> None:
    text = f"{temp}, {clock}\n" + "".join(f"{temp + i + 1}, {clock}\n" for i in range(extra))
    assert _parse_nvidia_smi_csv(text) == (float(temp), float(clock))


def test_parsers_linear_on_adversarial_input() -> None:
    """Near-miss input that would make a backtracking pattern blow up stays fast."""

    def big(n: int) -> str:
        return ("| tg " + "1" * n + " | " + "9." * n) * 20 + ("ppl = " + "1" * (n // 5) + "e") * 50

    assert_linear(big, parse_llama_bench_output, 500)
    assert_linear(big, parse_perplexity_output, 500)
    assert_linear(lambda n: "[1]" * n, parse_perplexity_output, 5_000)
