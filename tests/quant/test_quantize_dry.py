"""quantize_gguf without running llama.cpp: dry runs (pinned by the original's tests), the report
shape, bad input, and the commands it would run."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from fieldkit.quant import (
    LlamaCppNotFound,
    LlamaCppPaths,
    QuantError,
    QuantReport,
    _human_bytes,
    measure_perplexity_gguf,
    measure_tokens_per_sec_gguf,
    quantize_gguf,
)


@pytest.fixture
def stub_paths(tmp_path: Path) -> LlamaCppPaths:
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("llama-quantize", "convert_hf_to_gguf.py"):
        (stubs / name).write_text("")
    return LlamaCppPaths(quantize=stubs / "llama-quantize", convert=stubs / "convert_hf_to_gguf.py")


def test_dry_run_from_model_dir(tmp_path: Path, stub_paths: LlamaCppPaths) -> None:
    model = tmp_path / "hf-model"
    model.mkdir()
    out = tmp_path / "out"
    report = quantize_gguf(
        model=model,
        outdir=out,
        variants=("Q4_K_M", "Q8_0", "F16"),
        paths=stub_paths,
        dry_run=True,
    )
    assert report.format == "gguf"
    assert report.variants == ("Q4_K_M", "Q8_0", "F16")
    assert report.base_model == str(model)
    assert sum(n.startswith("convert: ") for n in report.notes) == 1
    assert sum(n.startswith("quantize: ") for n in report.notes) == 2
    assert list(report.variant_files) == ["Q4_K_M", "Q8_0", "F16"]
    f16 = out / "model-f16.gguf"
    assert f"f16-copy: {f16} → {out / 'model-F16.gguf'}" in report.notes
    entry = report.variant_files["Q8_0"]
    assert list(entry) == ["path", "rel", "size", "size_bytes"]
    assert entry == {
        "path": str(out / "model-Q8_0.gguf"),
        "rel": "model-Q8_0.gguf",
        "size": "",
        "size_bytes": None,
    }
    assert not out.exists()  # a dry run creates nothing
    assert report.perplexity == {} and report.tokens_per_sec == {}


def test_dry_run_with_existing_f16(tmp_path: Path, stub_paths: LlamaCppPaths) -> None:
    f16 = tmp_path / "model-f16.gguf"
    f16.write_bytes(b"")
    report = quantize_gguf(
        model=f16,
        outdir=tmp_path / "out",
        variants=("Q4_K_M",),
        paths=stub_paths,
        dry_run=True,
        f16_path=f16,
        base_model_id="org/model",
    )
    assert not any(n.startswith("convert:") for n in report.notes)
    assert any(n.startswith("quantize:") for n in report.notes)
    assert report.base_model == "org/model"


def test_dry_run_notes_are_copy_pasteable(tmp_path: Path, stub_paths: LlamaCppPaths) -> None:
    model = tmp_path / "my model dir"
    report = quantize_gguf(
        model=model,
        outdir=tmp_path / "out dir",
        variants=("Q4_0",),
        paths=stub_paths,
        dry_run=True,
        extra_quantize_args=("--imatrix", "im.dat"),
        nthreads=2,
    )
    convert, quant = report.notes
    argv = shlex.split(convert.removeprefix("convert: "))
    assert argv[2] == str(model) and argv[-2:] == ["--outtype", "f16"]
    argv = shlex.split(quant.removeprefix("quantize: "))
    # flags before the positionals, the thread count after the type (llama-quantize's grammar)
    assert argv == [
        str(stub_paths.quantize),
        "--imatrix",
        "im.dat",
        str(tmp_path / "out dir" / "model-f16.gguf"),
        str(tmp_path / "out dir" / "model-Q4_0.gguf"),
        "Q4_0",
        "2",
    ]


def test_dry_run_needs_no_tool(clean_env: Path, tmp_path: Path) -> None:
    report = quantize_gguf(
        model=tmp_path / "m", outdir=tmp_path / "o", variants=("Q8_0",), dry_run=True
    )
    assert report.notes[0].startswith("convert: ") and "convert_hf_to_gguf.py" in report.notes[0]
    assert report.notes[1].startswith("quantize: llama-quantize ")
    assert measure_perplexity_gguf(gguf_path="x.gguf", corpus_path="c.txt", dry_run=True) is None
    assert measure_tokens_per_sec_gguf(gguf_path="x.gguf", dry_run=True) is None


def test_real_run_without_tool_names_it(clean_env: Path, tmp_path: Path) -> None:
    with pytest.raises(LlamaCppNotFound, match="`convert`"):
        quantize_gguf(model=tmp_path / "m", outdir=tmp_path / "o", variants=("Q8_0",))
    with pytest.raises(LlamaCppNotFound, match="`perplexity`"):
        measure_perplexity_gguf(gguf_path="x.gguf", corpus_path="c.txt")
    with pytest.raises(LlamaCppNotFound, match="`bench`"):
        measure_tokens_per_sec_gguf(gguf_path="x.gguf")


def test_dry_run_measurements_with_stub_binaries() -> None:
    sh = LlamaCppPaths(perplexity=Path("/bin/sh"), bench=Path("/bin/sh"))
    assert measure_perplexity_gguf(gguf_path="m", corpus_path="c", paths=sh, dry_run=True) is None
    assert measure_tokens_per_sec_gguf(gguf_path="m", paths=sh, dry_run=True) is None


@pytest.mark.parametrize("bad", ["", "../x", "Q4 K", "Q4/K", "q8_0;rm"])
def test_bad_variant_names(tmp_path: Path, stub_paths: LlamaCppPaths, bad: str) -> None:
    with pytest.raises(ValueError, match="invalid GGUF variant"):
        quantize_gguf(model=tmp_path, outdir=tmp_path / "o", variants=(bad,), paths=stub_paths)


def test_bad_nthreads(tmp_path: Path, stub_paths: LlamaCppPaths) -> None:
    with pytest.raises(ValueError, match="nthreads"):
        quantize_gguf(model=tmp_path, outdir=tmp_path, paths=stub_paths, nthreads=0, dry_run=True)


def test_non_checkpoint_model_dir_is_rejected(tmp_path: Path, stub_paths: LlamaCppPaths) -> None:
    with pytest.raises(QuantError, match=r"no config\.json"):
        quantize_gguf(model=tmp_path / "nothing", outdir=tmp_path / "o", paths=stub_paths)


def test_not_a_gguf_source_is_rejected_before_running(
    tmp_path: Path, stub_paths: LlamaCppPaths
) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"PK\x03\x04 not gguf")
    with pytest.raises(QuantError, match="not a GGUF file"):
        quantize_gguf(model=fake, outdir=tmp_path / "o", variants=("Q8_0",), paths=stub_paths)
    assert not (tmp_path / "o" / "model-Q8_0.gguf").exists()


def test_measure_rejects_missing_files(tmp_path: Path) -> None:
    sh = LlamaCppPaths(perplexity=Path("/bin/sh"), bench=Path("/bin/sh"))
    with pytest.raises(QuantError, match="GGUF model"):
        measure_perplexity_gguf(gguf_path=tmp_path / "no.gguf", paths=sh)
    with pytest.raises(QuantError, match="GGUF model"):
        measure_tokens_per_sec_gguf(gguf_path=tmp_path / "no.gguf", paths=sh)
    with pytest.raises(ValueError, match="n_gen"):
        measure_tokens_per_sec_gguf(gguf_path="m", paths=sh, n_gen=-1)


def test_report_defaults_are_fresh() -> None:
    a = QuantReport("gguf", "x", ("Q4_K_M",))
    b = QuantReport("gguf", "y", ())
    assert a.variant_files == {} and a.perplexity == {} and a.tokens_per_sec == {}
    assert a.notes == [] and a.sustained_load_minutes is None
    a.notes.append("n")
    assert b.notes == []


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, ""),
        (0, "0 B"),
        (100, "100 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (1536, "1.5 KB"),
        (1024**2, "1.0 MB"),
        (1024**3, "1.0 GB"),
        (10**12, "931.3 GB"),
        (2**50, "1024.0 TB"),
    ],
)
def test_human_bytes(n: int | None, text: str) -> None:
    assert _human_bytes(n) == text


def test_perplexity_output_without_estimate_is_an_error(
    tmp_path: Path, make_exe: Callable[[str, str], Path]
) -> None:
    """A stand-in llama-perplexity that exits 0 after an error, as the real one does."""
    exe = make_exe("llama-perplexity", "echo 'E perplexity: you need at least 256 tokens' >&2")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(QuantError, match=r"no perplexity estimate[\s\S]*256 tokens"):
        measure_perplexity_gguf(gguf_path=gguf, paths=LlamaCppPaths(perplexity=exe))
    ok = make_exe("ppl-ok", "echo '[1]9.5,'; echo 'Final estimate: PPL = 9.5000 +/- 0.1' >&2")
    assert measure_perplexity_gguf(gguf_path=gguf, paths=LlamaCppPaths(perplexity=ok)) == 9.5
