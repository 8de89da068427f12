"""`unmo config show`."""

from __future__ import annotations

import typer

app = typer.Typer(help="Show the resolved settings.", no_args_is_help=True)


@app.command("show")
def show(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The settings in force (file, environment, defaults), secrets masked."""
    from unmo_cli import console
    from unmo_cli.services.workspace_admin import describe_settings

    report = describe_settings()
    if json_output:
        console.emit_json({"workspace": report.workspace, "config_file": report.config_file,
                           "settings": report.settings})
        return
    table = console.DataTable(f"Settings for {report.workspace}",
                              [console.key("key"), console.text("value", wrap=True)])
    for key, value in report.settings.items():
        if isinstance(value, list):  # playbooks: one line per entry
            value = "\n".join(", ".join(f"{k}: {v}" for k, v in item.items())
                              for item in value) or None
        table.add_row(key, None if value is None else str(value))
    console.print_out(table)
    console.info(f"config file: {report.config_file or 'none (defaults and environment)'}")
