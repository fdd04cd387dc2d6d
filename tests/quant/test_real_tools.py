"""The real llama.cpp tools on the real SmolLM2-135M Q4_1 GGUF: re-quantize, perplexity on the
shipped sample text, llama-bench, tool failures and deadlines, and an HF checkpoint → GGUF.

Runs are kept short (128-token context, 4 chunks, 2 threads, tiny bench sizes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldkit.quant import (
    LlamaCppPaths,
    QuantError,
    QuantReport,
    QuantTimeout,
    QuantToolError,
    measure_perplexity_gguf,
    measure_tokens_per_sec_gguf,
    quantize_gguf,
    sample_text_path,
)
from fieldkit.quant._gguf import read_gguf_file_type
from tests._tools import tool_missing

# A loaded 2-core CI box runs a 4-chunk perplexity pass in ~40 s; allow well beyond that.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PPL_ARGS = ["-c", "128", "--chunks", "4", "-t", "2", "-b", "128"]
BENCH_ARGS = ["-t", "2", "-r", "1"]


@pytest.fixture(scope="module")
def requantized(
    llama_paths: LlamaCppPaths, smollm2: Path, tmp_path_factory: pytest.TempPathFactory
) -> QuantReport:
    out = tmp_path_factory.mktemp("quants")
    return quantize_gguf(
        model=smollm2,
        outdir=out,
        variants=("Q4_0", "Q8_0"),
        paths=llama_paths,
        nthreads=2,
        base_model_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        timeout_s=600,
    )


def test_requantize_q4_1_to_q4_0_and_q8_0(requantized: QuantReport, smollm2: Path) -> None:
    assert requantized.variants == ("Q4_0", "Q8_0")
    assert requantized.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert any("already Q4_1" in n and "--allow-requantize" in n for n in requantized.notes)
    q40, q80 = (requantized.variant_files[v] for v in ("Q4_0", "Q8_0"))
    assert read_gguf_file_type(Path(q40["path"])) == 2  # Q4_0
    assert read_gguf_file_type(Path(q80["path"])) == 7  # Q8_0
    source = smollm2.stat().st_size
    for entry in (q40, q80):
        path = Path(entry["path"])
        assert entry["rel"] == path.name and entry["size_bytes"] == path.stat().st_size
        assert entry["size"].endswith(" MB")
    assert q40["size_bytes"] < source < q80["size_bytes"]  # 4.5 < 5 < 8.5 bits per weight
    leftovers = [p.name for p in Path(q40["path"]).parent.iterdir() if "partial" in p.name]
    assert leftovers == []


def test_perplexity_of_real_model_and_requants(
    llama_paths: LlamaCppPaths, smollm2: Path, requantized: QuantReport
) -> None:
    ppl: dict[str, float] = {}
    for name, gguf in (
        ("Q4_1", smollm2),
        ("Q4_0", Path(requantized.variant_files["Q4_0"]["path"])),
        ("Q8_0", Path(requantized.variant_files["Q8_0"]["path"])),
    ):
        value = measure_perplexity_gguf(
            gguf_path=gguf, paths=llama_paths, extra_args=PPL_ARGS, timeout_s=300
        )
        assert value is not None
        ppl[name] = value
    assert all(1.0 < v < 200.0 for v in ppl.values()), ppl
    # Q8_0 stores the Q4_1 weights almost exactly; Q4_0 loses the Q4_1 offsets.
    assert abs(ppl["Q8_0"] - ppl["Q4_1"]) / ppl["Q4_1"] < 0.03, ppl
    assert ppl["Q4_0"] > ppl["Q4_1"], ppl
    requantized.perplexity.update(ppl)


def test_perplexity_same_as_by_hand(llama_paths: LlamaCppPaths, smollm2: Path) -> None:
    """Explicit corpus and the default give the value llama-perplexity prints itself."""
    import re
    import subprocess

    args = ["-c", "128", "--chunks", "1", "-t", "2", "-b", "128"]
    cmd = [str(llama_paths.perplexity), "-m", str(smollm2), "-f", str(sample_text_path())]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300)
    m = re.search(r"Final estimate: PPL = ([\d.]+)", proc.stdout + proc.stderr)
    assert m is not None, proc.stderr[-2000:]
    ours = measure_perplexity_gguf(
        gguf_path=smollm2, corpus_path=sample_text_path(), paths=llama_paths, extra_args=args
    )
    assert ours == pytest.approx(float(m.group(1)), abs=1e-4)


def test_too_short_corpus_quotes_the_tool(
    llama_paths: LlamaCppPaths, smollm2: Path, tmp_path: Path
) -> None:
    short = tmp_path / "short.txt"
    short.write_text("Too short to measure.\n")
    with pytest.raises(QuantError) as info:  # the tool itself exits 0 here
        measure_perplexity_gguf(
            gguf_path=smollm2, corpus_path=short, paths=llama_paths, extra_args=PPL_ARGS
        )
    msg = str(info.value)
    assert msg.startswith("llama-perplexity: ") and "printed no perplexity estimate" in msg
    assert "you need at least 256 tokens" in msg


def test_perplexity_deadline(llama_paths: LlamaCppPaths, smollm2: Path) -> None:
    with pytest.raises(QuantTimeout):
        measure_perplexity_gguf(
            gguf_path=smollm2, paths=llama_paths, extra_args=PPL_ARGS, timeout_s=0.05
        )


@pytest.mark.parametrize("fmt", [None, "json"])  # jsonl/csv: captured-output parser tests
def test_tokens_per_sec_real(llama_paths: LlamaCppPaths, smollm2: Path, fmt: str | None) -> None:
    extra = [*BENCH_ARGS, *(["-o", fmt] if fmt else [])]
    tps = measure_tokens_per_sec_gguf(
        gguf_path=smollm2, paths=llama_paths, n_gen=4, n_prompt=16, extra_args=extra
    )
    assert tps is not None
    assert set(tps) == {"tg", "pp"}
    assert tps["tg"] is not None and tps["tg"] > 0
    assert tps["pp"] is not None and tps["pp"] > 0


def test_tokens_per_sec_without_generation(llama_paths: LlamaCppPaths, smollm2: Path) -> None:
    tps = measure_tokens_per_sec_gguf(
        gguf_path=smollm2, paths=llama_paths, n_gen=0, n_prompt=8, extra_args=BENCH_ARGS
    )
    assert tps is not None and tps["tg"] is None and tps["pp"] is not None


def test_unknown_variant_quotes_llama_quantize(
    llama_paths: LlamaCppPaths, smollm2: Path, tmp_path: Path
) -> None:
    with pytest.raises(QuantToolError) as info:
        quantize_gguf(model=smollm2, outdir=tmp_path, variants=("Q9_9",), paths=llama_paths)
    assert str(info.value).startswith("llama-quantize Q9_9: ")
    assert info.value.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing half-written left


def _convert_script() -> Path:
    from fieldkit.serve import llama_cache_dir

    script = llama_cache_dir() / "src" / "convert_hf_to_gguf.py"
    if not script.is_file():
        tool_missing("no llama.cpp source tree with convert_hf_to_gguf.py in fieldkit's cache")
    return script


def test_hf_checkpoint_to_gguf(llama_paths: LlamaCppPaths, smollm2: Path, tmp_path: Path) -> None:
    """A tiny random Llama saved by transformers → F16 GGUF → Q8_0, and the F16 'variant' is a
    hard link to the converted file (no second copy)."""
    from tests.quant._hf_checkpoint import make_tiny_llama

    ckpt = make_tiny_llama(tmp_path / "tiny-llama", smollm2)
    paths = LlamaCppPaths(quantize=llama_paths.quantize, convert=_convert_script())
    out = tmp_path / "out"
    report = quantize_gguf(
        model=ckpt, outdir=out, variants=("Q8_0", "F16"), paths=paths, timeout_s=600
    )
    f16 = out / "model-f16.gguf"
    assert read_gguf_file_type(f16) == 1
    assert read_gguf_file_type(out / "model-Q8_0.gguf") == 7
    assert (out / "model-F16.gguf").stat().st_ino == f16.stat().st_ino
    assert report.variant_files["F16"]["size_bytes"] == f16.stat().st_size
    assert not any(n.startswith("source ") for n in report.notes)  # 16-bit source: no requant


def test_convert_failure_is_quoted(llama_paths: LlamaCppPaths, tmp_path: Path) -> None:
    ckpt = tmp_path / "broken"
    ckpt.mkdir()
    (ckpt / "config.json").write_text('{"architectures": ["NoSuchModelForCausalLM"]}')
    paths = LlamaCppPaths(quantize=llama_paths.quantize, convert=_convert_script())
    with pytest.raises(QuantError) as info:
        quantize_gguf(model=ckpt, outdir=tmp_path / "out", variants=("Q8_0",), paths=paths)
    assert str(info.value).startswith(("convert_hf_to_gguf.py", "convert_hf_to_gguf.py needs"))
    assert not (tmp_path / "out" / "model-f16.gguf").exists()


def test_convert_names_a_missing_python_module(
    llama_paths: LlamaCppPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interpreter without the convert script's dependencies: the error names the module."""
    import shutil
    import subprocess

    bare = shutil.which("python3", path="/usr/bin:/bin")
    if (
        bare is None
        or subprocess.run([bare, "-c", "import torch"], capture_output=True).returncode == 0
    ):
        pytest.skip("no system python3 without torch to play the bare interpreter")
    monkeypatch.setenv("LLAMA_CPP_PYTHON", bare)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    paths = LlamaCppPaths(quantize=llama_paths.quantize, convert=_convert_script())
    with pytest.raises(QuantError) as info:
        quantize_gguf(model=ckpt, outdir=tmp_path / "out", variants=("Q8_0",), paths=paths)
    msg = str(info.value)
    assert "needs the Python module 'torch'" in msg and "fieldkit[quant]" in msg
