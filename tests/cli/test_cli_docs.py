"""docs/api/cli.md documents every command the app registers (regenerate: scripts/gen-cli-docs)."""

from __future__ import annotations

from pathlib import Path

import typer

from fieldkit.cli import app

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api" / "cli.md").read_text(encoding="utf-8")


def _command_paths(t: typer.Typer, prefix: str = "fieldkit") -> list[str]:
    paths = [
        f"{prefix} {c.name or c.callback.__name__}".replace("_", "-")  # type: ignore[union-attr]
        for c in t.registered_commands
    ]
    for group in t.registered_groups:
        assert group.typer_instance is not None and group.name
        paths += _command_paths(group.typer_instance, f"{prefix} {group.name}")
    return paths


def test_every_command_has_a_help_section_in_the_cli_doc() -> None:
    paths = _command_paths(app)
    assert "fieldkit feasibility" in paths and "fieldkit bench rag" in paths
    missing = [p for p in paths if f"### `{p}`" not in DOC]
    assert not missing, f"run scripts/gen-cli-docs and add these to it: {missing}"


def test_help_keeps_the_extra_names_in_brackets() -> None:
    # Rich reads "[plot]" as markup: an unescaped one vanishes from --help.
    from typer.testing import CliRunner

    runner = CliRunner()
    for command, extras in (
        (["bench", "serve"], ("plot", "mlflow")),
        (["bench", "rag"], ("mlflow",)),
    ):
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "300"})
        assert result.exit_code == 0
        for extra in extras:
            assert f"needs fieldkit[{extra}])" in result.output, (command, extra)
