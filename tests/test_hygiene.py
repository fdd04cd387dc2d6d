"""Docs speak to users and code comments state guarantees: no internal references (other
people's folders, tracker numbers, targets) in what ships, no history narration in src."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Files a user reads: the README, the project docs, samples and benchmark output.
_USER_FILES = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    ROOT / "CHANGELOG.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *sorted((ROOT / "samples").glob("*.py")),
    *sorted((ROOT / "benchmarks").glob("*.py")),
]
_INTERNAL = re.compile(r"\.\./shared|/work/|\bissue \d+|\bgoals?\b", re.IGNORECASE)

# History belongs in CHANGELOG.md / docs/differences.md, not in comments and docstrings.
_HISTORY = re.compile(r"beyond 0\.3\.0|0\.3\.0 (?:did|raised|returned|used to|would)\b")


def _hits(paths: list[Path], pattern: re.Pattern[str]) -> list[str]:
    out = []
    for path in paths:
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                out.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()[:100]}")
    return out


def test_user_docs_have_no_internal_references() -> None:
    assert len(_USER_FILES) > 10
    assert _hits(_USER_FILES, _INTERNAL) == []


def test_src_comments_state_guarantees_not_history() -> None:
    sources = sorted((ROOT / "src" / "fieldkit").rglob("*.py"))
    assert sources
    assert _hits(sources, _HISTORY) == []


SRC = ROOT / "src" / "fieldkit"

# Spots owned by work in flight elsewhere, each to be dropped from these lists once fixed there.
# (path relative to src/fieldkit, imported module)
_PENDING_PRIVATE_IMPORTS: set[tuple[str, str]] = set()
# Files whose docstrings may still say a bare "compatible".
_PENDING_BARE_COMPATIBLE: set[str] = set()
# Library functions that change process-wide state, with the reason they must: (file, function).
_ALLOWED_PROCESS_CHANGES: set[tuple[str, str]] = set()
# CLI modules that may still print JSON themselves.
_PENDING_CLI_JSON: set[str] = set()


def _sources() -> list[Path]:
    found = sorted(SRC.rglob("*.py"))
    assert len(found) > 50
    return found


def _rel(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def _private_cross_imports(text: str, rel: str) -> list[str]:
    """``from fieldkit.<pkg>._mod import ...`` (or ``import fieldkit.<pkg>._mod``, ``from
    fieldkit.<pkg> import _name``, the same written relative, or ``import_module("...")``) in
    module *rel* (under src/fieldkit) outside ``<pkg>``."""
    import ast

    parts_of_rel = rel.split("/")
    home = parts_of_rel[0] if len(parts_of_rel) > 1 else None
    package = ["fieldkit", *parts_of_rel[:-1]]  # what a relative import is relative to
    out: list[str] = []
    for node in ast.walk(ast.parse(text)):
        modules: list[tuple[str, list[str]]] = []
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            modules.append((module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            modules.extend((a.name, []) for a in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            modules.append((node.args[0].value, []))
        for module, names in modules:
            parts = module.split(".")
            if parts[0] != "fieldkit" or len(parts) < 2 or parts[1] == home:
                continue
            if parts[1].startswith("_") and len(parts) == 2:
                continue  # fieldkit._atomic, fieldkit._lazy ...: shared homes for every package
            private_module = any(p.startswith("_") for p in parts[2:])
            private_name = len(parts) == 2 and any(n.startswith("_") for n in names)
            if private_module or private_name:
                out.append(module)
    return out


def test_no_package_imports_another_packages_private_modules() -> None:
    found = {
        (_rel(path), module)
        for path in _sources()
        for module in _private_cross_imports(path.read_text(encoding="utf-8"), _rel(path))
    }
    assert sorted(found - _PENDING_PRIVATE_IMPORTS) == []


def test_the_cross_import_rule_sees_each_form() -> None:
    text = (
        "from fieldkit.eval._metrics import percentile\n"
        "import fieldkit.nim._tokens\n"
        "from fieldkit.rag import _sql\n"
        "from fieldkit.cli._app import fail\n"  # its own package: fine
        "from fieldkit._atomic import replacing\n"  # a shared top-level home: fine
        "from fieldkit.lineage.views import tree_tsv\n"  # a public module: fine
        "from .._lazy import require\n"  # relative, a shared home: fine
        "from ._render import render\n"  # relative, its own package: fine
        "from ..serve._locate import find\n"
        "from ..rag import _sql\n"
        "importlib.import_module('fieldkit.quant._paths')\n"
        "importlib.import_module('fieldkit.quant')\n"  # public: fine
    )
    assert _private_cross_imports(text, "cli/_probe.py") == [
        "fieldkit.eval._metrics",
        "fieldkit.nim._tokens",
        "fieldkit.rag",
        "fieldkit.serve._locate",
        "fieldkit.rag",
        "fieldkit.quant._paths",
    ]


# "compatible" must say with what: "OpenAI-compatible", "compatible with the published API".
_BARE_COMPATIBLE = re.compile(r"(?<![\w-])compatible\b(?! with\b)", re.IGNORECASE)


def test_src_names_what_it_is_compatible_with() -> None:
    hits = [
        hit
        for path in _sources()
        if _rel(path) not in _PENDING_BARE_COMPATIBLE
        for hit in _hits([path], _BARE_COMPATIBLE)
    ]
    assert hits == []


# fieldkit's own release numbers (0.3.x-0.5.x, v0.3-v0.5) narrate history. A number after
# another project's name ("pgvector 0.5.0") is that project's release, and the render style
# value "0.3.0" (quoted, or named as an alias) is an API value: neither is history.
_OUR_VERSION_NAMED = re.compile(
    r"\bv0\.[3-5]\b|\b(?:fieldkit|release|version|level)\s+0\.[3-5]\b", re.I
)
_BARE_VERSION = re.compile(r"(?<![\w.\"'`])0\.[3-5]\.\d+(?![\w.\"'`])")
_WORD_BEFORE = re.compile(r"([\w-]+)\s+$")
_NOT_A_PROJECT = {
    "in",
    "since",
    "from",
    "before",
    "after",
    "until",
    "beyond",
    "of",
    "to",
    "at",
    "by",
    "with",
    "as",
    "the",
    "and",
    "or",
    "than",
    "like",
    "unlike",
    "on",
    "for",
}


def _names_our_version(line: str) -> bool:
    if _OUR_VERSION_NAMED.search(line):
        return True
    for m in _BARE_VERSION.finditer(line):
        before = _WORD_BEFORE.search(line[: m.start()])
        word = before.group(1).lower() if before else None
        if word != "alias" and (word is None or word in _NOT_A_PROJECT):
            return True
    return False


def test_src_carries_no_release_numbers_but_the_api_level() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{no}: {line.strip()[:100]}"
        for path in _sources()
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _names_our_version(line) and not (_rel(path) == "__init__.py" and "API_LEVEL =" in line)
    ]
    assert hits == []


def test_the_release_number_rule_tells_ours_from_other_projects() -> None:
    ours = ["on the roadmap for v0.5", "beyond 0.3.0 the client", "0.4.2 added it", "fieldkit 0.4"]
    ours += ["as in 0.3.0, rows are kept", "(since 0.5.1)", "release 0.3 behaviour"]
    theirs = ['style="0.3.0"', "alias 0.3.0", "pgvector 0.8", "needs pgvector 0.5.0 for HNSW"]
    theirs += ["CUDA v12.4", "httpx 0.28.1", "llama.cpp b4567"]
    assert [s for s in ours if not _names_our_version(s)] == []
    assert [s for s in theirs if _names_our_version(s)] == []


_ENVIRON_WRITES = {"update", "setdefault", "pop", "popitem", "clear", "__setitem__", "__delitem__"}


def _process_changes(text: str) -> list[int]:
    """Lines of *text* that change process-wide state: writing ``os.environ`` (item assignment,
    ``del``, a mutating method, ``os.putenv``/``unsetenv``) under any name it is bound to, or
    choosing matplotlib's backend (``matplotlib.use``, however imported, ``switch_backend``).
    Reading the environment or writing a copy of it (``env = dict(os.environ)``) is fine."""
    import ast

    tree = ast.parse(text)
    os_names, environ_names, mpl_names, env_funcs = {"os"}, set(), {"matplotlib"}, set()
    for node in ast.walk(tree):  # the names the os module, os.environ and matplotlib go by
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "os":
                    os_names.add(a.asname or "os")
                elif a.name == "matplotlib":
                    mpl_names.add(a.asname or "matplotlib")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            for a in node.names:
                if a.name == "environ":
                    environ_names.add(a.asname or a.name)
                elif a.name in ("putenv", "unsetenv"):
                    env_funcs.add(a.asname or a.name)

    def is_environ(expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in environ_names
        return (
            isinstance(expr, ast.Attribute)
            and expr.attr == "environ"
            and isinstance(expr.value, ast.Name)
            and expr.value.id in os_names
        )

    def is_matplotlib(expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in mpl_names
        return (  # require("matplotlib", ...) / importlib.import_module("matplotlib")
            isinstance(expr, ast.Call)
            and bool(expr.args)
            and isinstance(expr.args[0], ast.Constant)
            and expr.args[0].value == "matplotlib"
        )

    for node in ast.walk(tree):  # aliases made by assignment: e = os.environ, mpl = require(...)
        if isinstance(node, ast.Assign):
            names = {t.id for t in node.targets if isinstance(t, ast.Name)}
            if is_environ(node.value):
                environ_names |= names
            elif is_matplotlib(node.value):
                mpl_names |= names

    def writes(call: ast.Call) -> bool:
        func = call.func
        if isinstance(func, ast.Name):
            return func.id in env_funcs
        if not isinstance(func, ast.Attribute):
            return False
        return (
            (func.attr in _ENVIRON_WRITES and is_environ(func.value))
            or (
                func.attr in ("putenv", "unsetenv")
                and isinstance(func.value, ast.Name)
                and func.value.id in os_names
            )
            or (func.attr == "use" and is_matplotlib(func.value))
            or func.attr == "switch_backend"
        )

    hits: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if writes(node):
                hits.append(node.lineno)
            continue
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Subscript) and is_environ(t.value) for t in targets):
            hits.append(targets[0].lineno)
    return sorted(hits)


def _function_at(text: str, line: int) -> str | None:
    """The name of the innermost function of *text* that holds *line*."""
    import ast

    best: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    for node in ast.walk(ast.parse(text)):
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.lineno <= line <= (node.end_lineno or node.lineno)
            and (best is None or node.lineno > best.lineno)
        ):
            best = node
    return best.name if best is not None else None


def test_library_code_leaves_the_callers_process_alone() -> None:
    hits = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for line in _process_changes(text):
            if (_rel(path), _function_at(text, line)) not in _ALLOWED_PROCESS_CHANGES:
                hits.append(f"{_rel(path)}:{line}")
    assert hits == []


def test_the_process_change_rule_sees_each_form_and_spares_reads_and_copies() -> None:
    text = """\
import os
import matplotlib as m
from os import environ as env, putenv
from fieldkit._lazy import require
os.environ["A"] = "1"
env["B"] = "2"
del os.environ["A"]
os.environ.update(C="3")
env.setdefault("D", "4")
e = os.environ
e["E"] = "5"
putenv("F", "6")
os.unsetenv("F")
m.use("Agg")
mpl = require("matplotlib", "plot")
mpl.use("Agg")
plt.switch_backend("Agg")
value = os.environ.get("A")
copy = dict(os.environ)
copy["A"] = "1"
copy.update(os.environ)
child_env = {**os.environ, "A": "1"}
if os.environ["A"] == "1":
    pass
"""
    assert _process_changes(text) == [5, 6, 7, 8, 9, 11, 12, 13, 14, 16, 17]


def _json_prints(text: str) -> list[int]:
    """Lines of *text* calling ``json.dumps``/``json.dump`` other than to build a file's text
    (an argument of a ``...write_text(...)`` call): those print JSON, which ``echo_json`` does."""
    import ast

    tree = ast.parse(text)
    to_files: set[int] = set()
    for node in ast.walk(tree):
        func = node.func if isinstance(node, ast.Call) else None
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if isinstance(node, ast.Call) and name.endswith("write_text"):
            to_files.update(id(inner) for arg in node.args for inner in ast.walk(arg))
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("dumps", "dump")
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "json"
        and id(node) not in to_files
    )


def test_cli_json_goes_through_echo_json() -> None:
    hits = [
        f"{_rel(path)}:{line}"
        for path in sorted((SRC / "cli").glob("*.py"))
        if _rel(path) not in {"cli/_app.py", *_PENDING_CLI_JSON}
        for line in _json_prints(path.read_text(encoding="utf-8"))
    ]
    assert hits == []


def test_the_cli_json_rule_spares_json_written_to_a_file() -> None:
    text = (
        "typer.echo(json.dumps(x))\n"
        "line = json.dumps(x)\n"
        "json.dump(x, sys.stdout)\n"
        "atomic_write_text(path, json.dumps(x, indent=2) + '\\n')\n"
        "path.write_text(json.dumps(x))\n"
    )
    assert _json_prints(text) == [1, 2, 3]
