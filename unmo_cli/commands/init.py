"""`unmo init [PATH]`."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def init(
    path: Path | None = typer.Argument(None, metavar="DIR",
                                       help="Folder to set up (default: the current one)."),
) -> None:
    """Write a commented unmo.yaml, customers/ and a .gitignore that keeps secrets out of git."""
    from unmo_cli import console
    from unmo_cli.services.workspace_admin import init_workspace

    result = init_workspace(path)
    for name in result.created:
        console.info(f"created {name}")
    for name in result.kept:
        console.info(f"kept existing {name}")
    console.info(f"workspace ready at {result.root}")
