"""Shell completion of customer slugs for SLUG arguments (Typer's `--install-completion`).

Completion runs on every Tab press, so it must be quick, silent and harmless: it reads the
workspace's database only when one already exists (never creating a file, a folder or a schema,
never migrating), gives up fast on a server that does not answer, and any failure means "no
suggestions" — never an error in the middle of someone's command line. Only stdlib at import
time: the command modules import this one at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_SUGGESTIONS = 500
# A completion that waits longer than this for a database server is worse than none.
SERVER_TIMEOUT_S = 2


def complete_customer_slug(incomplete: str, ctx: Any = None) -> list[str]:
    """The slugs of the workspace's customers that start with `incomplete`, in order; [] when
    there is no workspace database or anything goes wrong."""
    try:
        return _slugs_starting_with(incomplete or "", _explicit_workspace(ctx))
    except Exception:  # noqa: BLE001 - completion must never fail the shell
        return []


def _explicit_workspace(ctx: Any) -> Path | None:
    """`unmo --workspace PATH … <Tab>`: the global option, as parsed for the completion."""
    root = ctx.find_root() if ctx is not None else None
    value = root.params.get("workspace") if root is not None else None
    return Path(value) if value else None


def _slugs_starting_with(prefix: str, workspace: Path | None) -> list[str]:
    from unmo_cli.services.customers import slugs_starting_with
    from unmo_cli.workspace import load_workspace, set_workspace_override

    if workspace is not None:
        set_workspace_override(workspace)
    try:
        ws = load_workspace()
    finally:
        if workspace is not None:
            set_workspace_override(None)
    return slugs_starting_with(prefix, ws, connect_timeout_s=SERVER_TIMEOUT_S,
                               limit=MAX_SUGGESTIONS)
