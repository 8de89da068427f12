"""`unmo keys list|rotate|verify`."""

from __future__ import annotations

import typer

from unmo_cli.commands.choices import KeyEnvironment, KeyKind, value
from unmo_cli.completion import complete_customer_slug

app = typer.Typer(help="List, rotate and verify customers' API keys.", no_args_is_help=True)


@app.command("list")
def list_(
    slug: str = typer.Argument(..., metavar="SLUG", help="Slug or name of the customer.",
                               autocompletion=complete_customer_slug),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A customer's keys, revoked ones included, as hints."""
    from unmo_cli import console
    from unmo_cli.services.keys import list_keys

    listing = list_keys(None, slug)
    if json_output:
        console.emit_json({"customer": listing.slug, "keys": listing.keys})
        return
    # "env" and dates as days: whole rows fit an 80-column terminal.
    table = console.DataTable(f"Keys of {listing.slug}", [console.key(column) for column in
                              ("kind", "env", "hint", "status", "created", "revoked")])
    for k in listing.keys:
        table.add_row(k["kind"], k["environment"], k["hint"], k["status"],
                      k["created_at"][:10], (k["revoked_at"] or "")[:10])
    console.print_out(table)


@app.command("rotate")
def rotate(
    slug: str = typer.Argument(..., metavar="SLUG", help="Slug or name of the customer.",
                               autocompletion=complete_customer_slug),
    kind: KeyKind = typer.Option(KeyKind.secret, "--kind", case_sensitive=False,
                                 help="Which keys to rotate."),
    environment: KeyEnvironment | None = typer.Option(
        None, "--env", case_sensitive=False, help="Only this environment (default: both)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Print the new keys."),
) -> None:
    """Revoke keys, issue new ones, rewrite .env and every file that held them."""
    from unmo_cli import console
    from unmo_cli.services.keys import rotate_keys

    result = rotate_keys(None, slug, kind=kind.value, environment=value(environment))
    if json_output:
        console.emit_json(result.as_json(show_secrets=show_secrets))
        return
    for item in result.as_json(show_secrets=show_secrets)["rotated"]:
        shown = item.get("key") or item["new_hint"]
        console.out().print(f"{item['kind']} {item['environment']}: {item['old_hint'] or '—'} "
                            f"revoked, {shown} active", markup=False, highlight=False)
    console.info(f"rewrote customers/{result.slug}/: {', '.join(result.files) or 'nothing'}")


@app.command("verify")
def verify(
    key: str = typer.Argument(..., metavar="KEY", help="The key, or - to read it from stdin "
                              "(keeps it out of the shell history)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Say whose key this is. Exit 0 active, 1 revoked, 2 malformed or unknown."""
    import sys

    from unmo_cli import console
    from unmo_cli.services.keys import verify_key

    if key == "-":
        key = sys.stdin.readline()
    result = verify_key(None, key)
    if json_output:
        console.emit_json(result.as_json())
    elif result.status in ("active", "revoked"):
        when = f" on {result.revoked_at}" if result.revoked_at else ""
        console.out().print(f"{result.hint}: {result.status}{when} {result.kind} "
                            f"{result.environment} key of {result.customer_name} "
                            f"({result.customer}).", markup=False, highlight=False)
    if result.status in ("malformed", "unknown"):
        if not json_output:
            console.err().print(f"error: {result.hint} is {result.status}: {result.reason}.",
                                markup=False, highlight=False)
        raise typer.Exit(2)
    if result.status == "revoked":
        raise typer.Exit(1)
