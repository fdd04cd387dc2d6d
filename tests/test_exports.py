"""Every package's ``__all__`` is true: each name resolves, none is listed twice, and every public
name the package namespace binds is listed (the httpx exported-members check)."""

from __future__ import annotations

import importlib
import types
from pathlib import Path

import pytest

PACKAGES = [
    "fieldkit",
    "fieldkit.capabilities",
    "fieldkit.cli",
    "fieldkit.eval",
    "fieldkit.lineage",
    "fieldkit.nim",
    "fieldkit.publish",
    "fieldkit.quant",
    "fieldkit.rag",
    "fieldkit.rag.bench",
    "fieldkit.research",
    "fieldkit.serve",
    "fieldkit.testing",
    "fieldkit.training",
]

# Public names a package binds on purpose without exporting them.
NOT_EXPORTED: dict[str, set[str]] = {
    "fieldkit.rag": {"psycopg"},  # kept importable as ``fieldkit.rag.psycopg`` for compatibility
}


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_resolve_and_are_unique(name: str) -> None:
    mod = importlib.import_module(name)
    exported = list(mod.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    missing = [n for n in exported if not hasattr(mod, n)]
    assert missing == [], f"{name}.__all__ names missing attributes: {missing}"


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_binding_is_exported(name: str) -> None:
    mod = importlib.import_module(name)
    public = {
        n
        for n, v in vars(mod).items()
        if not n.startswith("_")
        and not isinstance(v, types.ModuleType)
        and n not in {"annotations", "TYPE_CHECKING", "Any"}
    }
    unlisted = sorted(public - set(mod.__all__) - NOT_EXPORTED.get(name, set()))
    assert unlisted == [], f"{name} binds public names not in __all__: {unlisted}"


def test_lineage_style_alias_renders_the_classic_layout(tmp_path: Path) -> None:
    from fieldkit.lineage import RENDER_STYLES, LineageStore, normalize_style

    assert RENDER_STYLES == ("classic", "cxcscmu")
    assert normalize_style("0.3.0") == "classic"
    with pytest.raises(ValueError, match="classic"):
        normalize_style("0.2.0")
    store = LineageStore(tmp_path)
    assert store.render_prompt("x", style="0.3.0") == store.render_prompt("x")
