"""`fieldkit envelope / feasibility / hardware / models`: 0.3.0's exact lines and exit codes,
our extra lines and options, and clean exit-2 errors (never a traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fieldkit.capabilities import hardware_profiles, model_shapes
from fieldkit.cli import app

runner = CliRunner()

REFERENCE = (
    "model:           llama-3.1-70b\n"
    "hardware:        NVIDIA DGX Spark (GB10 Grace Blackwell) — 128 GB unified\n"
    "weights (fp8):       70.0 GB\n"
    "KV cache (fp8):      21.5 GB  (ctx=4096, batch=32)\n"
    "weights + KV:       91.5 GB\n"
    "envelope rule:   ~70 GB weights; leaves ~50 GB for KV + activations + system; "
    "tight but possible\n"
)
REFERENCE_ARGS = [
    "feasibility",
    "llama-3.1-70b",
    "--ctx",
    "4096",
    "--batch",
    "32",
    "--dtype",
    "fp8",
]


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("version", "envelope", "feasibility", "bench", "hardware", "models"):
        assert name in result.stdout


def test_envelope_known() -> None:
    result = runner.invoke(app, ["envelope", "70B params fp8"])
    assert result.exit_code == 0
    assert result.stdout == (
        "~70 GB weights; leaves ~50 GB for KV + activations + system; tight but possible\n"
    )
    assert runner.invoke(app, ["envelope", "  8b PARAMS bf16 "]).stdout.startswith("fits with room")


def test_envelope_unknown_is_exit_2() -> None:
    result = runner.invoke(app, ["envelope", "garbage-size"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: no envelope rule for 'garbage-size'; known keys: ['8B params bf16', "
        "'70B params bf16', '70B params fp8', '70B params int4', '405B+ params']\n"
    )


def test_feasibility_reference_output() -> None:
    result = runner.invoke(app, REFERENCE_ARGS)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(REFERENCE)
    extra = result.stdout[len(REFERENCE) :].splitlines()
    assert extra[0].startswith("overhead:")
    assert "verdict:         fits" in extra
    assert extra[-1].startswith("decode bound:") and "upper bound" in extra[-1]
    assert result.stderr == ""


def test_feasibility_8b_defaults() -> None:
    result = runner.invoke(app, ["feasibility", "llama-3.1-8b"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[2] == "weights (fp16):       16.0 GB"
    assert lines[3] == "KV cache (fp16):       0.5 GB  (ctx=4096, batch=1)"
    assert lines[4] == "weights + KV:       16.5 GB"


def test_feasibility_echoes_input_as_typed() -> None:
    result = runner.invoke(app, ["feasibility", "LLAMA-3.1-70B", "--dtype", "FP8", "--batch", "32"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "model:           LLAMA-3.1-70B"
    assert lines[2] == "weights (FP8):       70.0 GB"
    assert lines[3] == "KV cache (FP8):      21.5 GB  (ctx=4096, batch=32)"


def test_feasibility_json_has_the_same_numbers() -> None:
    result = runner.invoke(app, [*REFERENCE_ARGS, "--json"])
    assert result.exit_code == 0
    d = json.loads(result.stdout)
    assert d["model"] == "llama-3.1-70b"
    assert d["hardware"] == "dgx-spark"
    assert d["weights_bytes"] == 70_000_000_000
    assert d["kv_cache_bytes"] == 21_474_836_480
    assert f"{d['weights_gb']:.1f}" == "70.0"
    assert f"{d['kv_cache_gb']:.1f}" == "21.5"
    assert f"{d['weights_plus_kv_gb']:.1f}" == "91.5"
    assert d["verdict"] == "fits"
    assert d["decode_bound"]["kind"] == "upper bound"
    assert d["envelope_rule"].startswith("~70 GB weights")


def test_feasibility_hardware_and_kv_dtype() -> None:
    result = runner.invoke(
        app,
        [
            "feasibility",
            "llama-3.1-70b",
            "--dtype",
            "bf16",
            "--kv-dtype",
            "fp8",
            "--hardware",
            "b200",
        ],
    )
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[1] == "hardware:        NVIDIA B200 — 180 GB HBM3e"
    assert lines[2] == "weights (bf16):      140.0 GB"
    assert lines[3] == "KV cache (fp8):       0.7 GB  (ctx=4096, batch=1)"
    assert not any(line.startswith("envelope rule:") for line in lines)
    assert "verdict:         fits" in lines


def test_feasibility_does_not_fit_still_exits_0() -> None:
    result = runner.invoke(app, ["feasibility", "llama-3.1-405b", "--dtype", "int4"])
    assert result.exit_code == 0
    assert "verdict:         does not fit" in result.stdout.splitlines()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["feasibility", "nope-9000"], "error: unknown model id 'nope-9000'; known: "),
        (
            ["feasibility", "llama-3.1-8b", "--dtype", "fp17"],
            "error: unknown dtype 'fp17'; known: ",
        ),
        (
            ["feasibility", "llama-3.1-8b", "--kv-dtype", "fp7"],
            "error: unknown dtype 'fp7'; known: ",
        ),
        (
            ["feasibility", "llama-3.1-8b", "--hardware", "tpu"],
            "error: unknown hardware 'tpu'; known: ",
        ),
        (["feasibility", "llama-3.1-8b", "--ctx", "0"], "error: --ctx must be a positive integer"),
        (["feasibility", "llama-3.1-8b", "--ctx", "-5"], "error: --ctx must be a positive integer"),
        (
            ["feasibility", "llama-3.1-8b", "--batch", "0"],
            "error: --batch must be a positive integer",
        ),
    ],
)
def test_feasibility_user_errors_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_non_integer_ctx_is_a_usage_error_not_a_traceback() -> None:
    result = runner.invoke(app, ["feasibility", "llama-3.1-8b", "--ctx", "lots"])
    assert result.exit_code == 2
    assert "--ctx" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_errors_list_the_choices() -> None:
    model = runner.invoke(app, ["feasibility", "nope-9000"]).stderr
    assert str(sorted(model_shapes())) in model
    assert "'100b-bf16', " in model and "'llama-3.1-70b', 'llama-3.1-8b'" in model
    hw = runner.invoke(app, ["feasibility", "llama-3.1-8b", "--hardware", "tpu"]).stderr
    assert str(sorted(hardware_profiles())) in hw
    dtype = runner.invoke(app, ["feasibility", "llama-3.1-8b", "--dtype", "fp17"]).stderr
    # every 0.3.0 dtype is still listed, with the block-scaled and GGUF formats among them
    assert "error: unknown dtype 'fp17'; known: ['bf16', 'fp16', 'fp32', 'fp8', 'int4', " in dtype
    for name in ("int8", "nf4", "nvfp4", "mxfp4", "int4-g128", "q4_k_m", "q8_0"):
        assert f"'{name}'" in dtype


def test_hardware_list() -> None:
    result = runner.invoke(app, ["hardware"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "memory", "bandwidth"]
    ids = [line.split()[0] for line in lines[1:]]
    assert ids == list(hardware_profiles())
    assert "(default)" in lines[1]
    data = json.loads(runner.invoke(app, ["hardware", "--json"]).stdout)
    assert [p["id"] for p in data] == list(hardware_profiles())
    h100 = next(p for p in data if p["id"] == "h100-80gb-sxm")
    assert (h100["memory_gb"], h100["memory_bandwidth_gb_s"]) == (80, 3350)


def test_models_list() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:]] == list(model_shapes())
    ds = next(line for line in lines if line.startswith("deepseek-v3"))
    assert "MLA" in ds and "671B" in ds and "37B" in ds
    data = json.loads(runner.invoke(app, ["models", "--json"]).stdout)
    mixtral = next(m for m in data if m["id"] == "mixtral-8x7b")
    assert mixtral["moe"] is True and mixtral["active_params_b"] == 12.9
    assert next(m for m in data if m["id"] == "llama-3.1-70b")["kv_bytes_per_token_fp16"] == 327_680
    oss = next(m for m in data if m["id"] == "gpt-oss-120b")
    assert (oss["kv_bytes_per_token_fp16"], oss["kv_bytes_per_token_past_windows_fp16"]) == (
        36 * 2048,
        18 * 2048,
    )
    assert (oss["sliding_window"], oss["windowed_layers"], oss["full_attention_layers"]) == (
        128,
        18,
        18,
    )
    gemma = next(line for line in lines if line.startswith("gemma-3-27b"))
    assert "80 KiB" in gemma and "52x1024" in gemma


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldkit", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=60,
    )


def test_python_dash_m_feasibility_subprocess() -> None:
    env = os.environ | {"PYTHONIOENCODING": "utf-8"}
    out = _run(*REFERENCE_ARGS, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(REFERENCE)
    assert out.stderr == ""
    bad = _run("feasibility", "llama-3.1-8b", "--ctx", "0", env=env)
    assert bad.returncode == 2
    assert bad.stderr == "error: --ctx must be a positive integer, got 0\n"
    assert "Traceback" not in bad.stderr


def test_non_utf8_console_degrades_the_em_dash() -> None:
    env = os.environ | {"PYTHONIOENCODING": "ascii"}
    out = subprocess.run(
        [sys.executable, "-m", "fieldkit", *REFERENCE_ARGS],
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("ascii")
    assert "hardware:        NVIDIA DGX Spark (GB10 Grace Blackwell) - 128 GB unified" in text


CONFIGS = os.path.join(os.path.dirname(__file__), "..", "capabilities", "hf_configs")


def test_done_when_gpt_oss_120b_mxfp4_on_spark() -> None:
    args = ["feasibility", "gpt-oss-120b", "--dtype", "mxfp4", "--hardware", "dgx-spark"]
    result = runner.invoke(app, [*args, "--ctx", "131072"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[2] == "weights (mxfp4):       62.1 GB"
    assert lines[3] == "KV cache (bf16):       4.8 GB  (ctx=131072, batch=1)"
    assert "KV layers:       18 full + 18 windowed (<= 128 tokens each) of 36" in lines
    assert "headroom:           46.4 GB  (36% of memory free)" in lines
    assert "verdict:         fits" in lines


def test_feasibility_from_a_shipped_config() -> None:
    path = os.path.join(CONFIGS, "gpt-oss-120b", "config.json")
    result = runner.invoke(
        app, ["feasibility", "--config", path, "--dtype", "mxfp4", "--ctx", "131072", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["model"], data["kv_cache_bytes"], data["verdict"]) == (
        "gpt-oss-120b",
        4_836_556_800,
        "fits",
    )
    assert (data["kv_windowed_layers"], data["sliding_window"]) == (18, 128)
    directory = runner.invoke(
        app,
        [
            "feasibility",
            "--config",
            os.path.join(CONFIGS, "qwen3-8b"),
            "--ctx",
            "32768",
            "--dtype",
            "bf16",
        ],
    )
    assert directory.exit_code == 0
    assert "KV cache (bf16):       4.8 GB  (ctx=32768, batch=1)" in directory.stdout


def test_config_errors_are_one_line() -> None:
    hybrid = os.path.join(CONFIGS, "nemotron-h-8b-base-8k")
    result = runner.invoke(app, ["feasibility", "--config", hybrid])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot count parameters of hybrid/NAS blocks")
    ok = runner.invoke(
        app,
        ["feasibility", "--config", hybrid, "--params-b", "8", "--ctx", "8192", "--dtype", "bf16"],
    )
    assert ok.exit_code == 0 and "KV cache (bf16):       0.1 GB" in ok.stdout
    for args, message in (
        (["feasibility"], "error: Missing argument 'MODEL_ID' (or give --config PATH)."),
        (["feasibility", "qwen3-8b", "--config", hybrid], "error: give a MODEL_ID or --config"),
        (
            ["feasibility", "qwen3-8b", "--params-b", "3"],
            "error: --params-b/--active-params-b go with --config",
        ),
        (["feasibility", "--config", "/nonexistent/config.json"], "error: config file not found"),
    ):
        bad = runner.invoke(app, args)
        assert bad.exit_code == 2 and bad.stderr.startswith(message), bad.output
        assert "Traceback" not in bad.output


def test_kv_dtype_a_runtime_cannot_use_is_refused() -> None:
    result = runner.invoke(app, ["feasibility", "qwen3-8b", "--kv-dtype", "nf4"])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: nf4 is not a KV-cache dtype (no common runtime stores a KV cache in it); valid KV "
        "dtypes: ['fp32', 'bf16', 'fp16', 'fp8', 'int8', 'int4', 'nvfp4', 'q8_0', 'q4_0']\n"
    )
    nf4 = runner.invoke(app, ["feasibility", "qwen3-8b", "--dtype", "nf4"])
    assert nf4.exit_code == 0
    assert "KV cache (bf16):" in nf4.stdout
    assert "note:            KV cache kept at bf16: nf4 is a weight-only format" in nf4.stdout
    fp4 = runner.invoke(app, ["feasibility", "llama-3.3-70b", "--dtype", "fp4"])
    assert "weights (fp4):       39.7 GB" in fp4.stdout  # 70.6e9 x 4.5 bits


@pytest.mark.parametrize(
    ("size", "keys"),
    [
        ("70B", ["70B params bf16", "70B params fp8", "70B params int4"]),
        ("70b", ["70B params bf16", "70B params fp8", "70B params int4"]),
        ("70B fp8", ["70B params fp8"]),
        ("70b FP8", ["70B params fp8"]),
        (" 8B ", ["8B params bf16"]),
        ("70B nf4", ["70B params int4"]),
        ("671B", ["405B+ params"]),
    ],
)
def test_envelope_accepts_typed_sizes(size: str, keys: list[str]) -> None:
    from fieldkit.capabilities import envelope_rules, practical_inference_envelope

    assert list(envelope_rules(size)) == keys
    result = runner.invoke(app, ["envelope", size])
    assert result.exit_code == 0
    if len(keys) == 1:
        assert result.stdout == practical_inference_envelope(keys[0]) + "\n"
    else:
        assert result.stdout.splitlines() == [
            f"{k}: {practical_inference_envelope(k)}" for k in keys
        ]


@pytest.mark.parametrize(
    "size", ["100B", "70B fp7", "70B q4_k_m", "B", "70", "70B params fp8 extra"]
)
def test_envelope_still_refuses_what_it_has_no_rule_for(size: str) -> None:
    result = runner.invoke(app, ["envelope", size])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: no envelope rule for {size!r}")


def test_dtypes_list() -> None:
    result = runner.invoke(app, ["dtypes"])
    assert result.exit_code == 0
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "4.5" in rows["nvfp4"] and "4.25" in rows["mxfp4"] and "no (bf16)" in rows["mxfp4"]
    data = json.loads(runner.invoke(app, ["dtypes", "--json"]).stdout)
    assert next(d for d in data if d["name"] == "q8_0")["bits_per_value"] == 8.5
