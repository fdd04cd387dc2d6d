"""`fieldkit models local` finds GGUF files in a fake Ollama store, a fake Hugging Face cache and
$FIELDKIT_HOME/models; `serve --model NAME` resolves those names."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldkit.cli import app
from fieldkit.serve import default_model
from fieldkit.serve._models import find_local_model, local_models


@pytest.fixture
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    real = default_model()
    data = real.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    ollama = tmp_path / "ollama"
    (ollama / "blobs").mkdir(parents=True)
    blob = ollama / "blobs" / f"sha256-{digest}"
    shutil.copyfile(real, blob)
    manifest = ollama / "manifests" / "registry.ollama.ai" / "library" / "smollm2" / "135m"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "layers": [
                    {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:0"},
                    {
                        "mediaType": "application/vnd.ollama.image.model",
                        "digest": f"sha256:{digest}",
                        "size": len(data),
                    },
                ],
            }
        )
    )
    broken = manifest.parent / "broken"
    broken.write_text("{not json")
    hub = tmp_path / "hf" / "hub"
    snap = hub / "models--HuggingFaceTB--SmolLM2-135M-Instruct-GGUF" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "smollm2-135m.q4_1.gguf").symlink_to(real)
    (snap / "README.md").write_text("not a model")
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "mine.gguf").write_bytes(data)
    (home / "models" / "fake.gguf").write_bytes(b"not a gguf")
    monkeypatch.setenv("OLLAMA_MODELS", str(ollama))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("FIELDKIT_HOME", str(home))
    return {
        "blob": blob,
        "hf": snap / "smollm2-135m.q4_1.gguf",
        "home": home / "models" / "mine.gguf",
    }


def test_every_store_is_listed(stores: dict[str, Path]) -> None:
    found = {m.name: m for m in local_models()}
    assert set(found) == {
        "SmolLM2-135M-Instruct.Q4_1",
        "mine",
        "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/smollm2-135m.q4_1.gguf",
        "smollm2:135m",
    }
    ollama = found["smollm2:135m"]
    assert (ollama.source, ollama.path, ollama.quant) == ("ollama", stores["blob"], "Q4_1")
    assert ollama.context_length == 8192 and ollama.architecture == "llama"
    assert found["mine"].source == "fieldkit"
    assert (
        found["HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/smollm2-135m.q4_1.gguf"].path
        == stores["hf"]
    )


def test_names_resolve(stores: dict[str, Path]) -> None:
    assert find_local_model("smollm2:135m") == stores["blob"]
    assert find_local_model("MINE") == stores["home"]
    assert find_local_model("smollm2-135m.q4_1") == stores["hf"]
    assert find_local_model("nothing") is None


def test_cli_lists_them(stores: dict[str, Path]) -> None:
    result = CliRunner().invoke(app, ["models", "local"])
    assert result.exit_code == 0, result.output
    assert "smollm2:135m" in result.stdout and "ollama" in result.stdout
    as_json = CliRunner().invoke(app, ["models", "local", "--json"])
    names = [m["name"] for m in json.loads(as_json.stdout)]
    assert "smollm2:135m" in names
    catalog = CliRunner().invoke(app, ["models"])  # the catalog listing is unchanged
    assert catalog.exit_code == 0 and "llama-3.1-8b" in catalog.stdout


def test_serve_takes_an_ollama_name(stores: dict[str, Path], tmp_path: Path) -> None:
    """`fieldkit serve --model smollm2:135m` serves the Ollama blob under that name."""
    import os
    import signal
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, PYTHONPATH=src, TMPDIR=str(tmp_path))
    args = ["--model", "smollm2:135m", "--port", "0", "--threads", "1", "--ctx", "512", "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fieldkit", "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline() or "{}")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
    assert info.get("model") == "smollm2:135m", err
    assert info["model_path"] == str(stores["blob"])


def test_a_fifo_named_gguf_is_skipped(stores: dict[str, Path], tmp_path: Path) -> None:
    """A FIFO in a scanned folder would block an open() forever; the listing skips it."""
    import os
    import subprocess
    import sys

    os.mkfifo(stores["home"].parent / "pipe.gguf")
    src = str(Path(__file__).resolve().parents[2] / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "fieldkit", "models", "local", "--json"],
        env=dict(os.environ, PYTHONPATH=src),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    names = {m["name"] for m in json.loads(proc.stdout)}
    assert "mine" in names and "pipe" not in names
