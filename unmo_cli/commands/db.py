"""`unmo db upgrade`."""

from __future__ import annotations

import typer

app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Migrate the database to the newest schema (an older SQLite file is backed up first)."""
    from unmo_cli import console
    from unmo_cli.services.workspace_admin import upgrade_database

    result = upgrade_database()
    if result.from_revision == result.to_revision:
        console.info(
            f"database {result.database_url} is up to date (revision {result.to_revision})."
        )
        return
    if result.backup:
        console.info(f"backed up the database to {result.backup}")
    console.info(f"upgraded {result.database_url} from {result.from_revision or 'empty'} to "
                 f"revision {result.to_revision}.")
