"""`unmo customer …`."""

from __future__ import annotations

import typer

app = typer.Typer(help="customer commands.", no_args_is_help=True)
