"""`unmo survey …`: e-mail survey links and serve the survey page."""

from __future__ import annotations

import typer

from unmo_cli.completion import complete_customer_slug

app = typer.Typer(help="E-mail survey links to customers and serve the page they answer on.",
                  no_args_is_help=True)


@app.command("send")
def send(
    customers: list[str] | None = typer.Argument(None, metavar="SLUG",
                                                 help="Customers to survey.",
                                                 autocompletion=complete_customer_slug),
    every: bool = typer.Option(False, "--all", help="Every active customer."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent; send and "
                                 "write nothing."),
    retry_unknown: bool = typer.Option(False, "--retry-unknown", help="Send again a message "
                                       "whose earlier attempt ended without an answer."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """E-mail each customer's contact a signed survey link (one open link per customer: a
    link already sent is not sent again)."""
    # Function-level imports: the command modules stay light for `unmo --help` (cli.py).
    from unmo_cli import console
    from unmo_cli.commands.email import describe
    from unmo_cli.errors import EnvironmentFailure
    from unmo_cli.services.surveys import send_surveys
    from unmo_cli.workspace import load_workspace

    run = send_surveys(load_workspace(), customers or [], every=every, dry_run=dry_run,
                       retry_unknown=retry_unknown)
    if json_output:
        console.emit_json(run.to_json())
    else:
        for sending in run.sendings:
            console.print_out(describe(sending))
        if not run.sendings and not run.failures:
            console.warn("no active customers to survey.")
    if run.failures:
        for failure in run.failures[1:]:
            console.warn(failure)
        raise EnvironmentFailure(run.failures[0])


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", metavar="ADDRESS",
                             help="Address to listen on (behind a proxy: keep loopback)."),
    port: int = typer.Option(8790, "--port", metavar="PORT",
                             help="Port to listen on (0: any free port)."),
    forwarded_allow_ips: str = typer.Option(
        "127.0.0.1", "--forwarded-allow-ips", metavar="ADDRESSES",
        help="Proxies whose X-Forwarded-For names the client (comma-separated)."),
    workers: int = typer.Option(1, "--workers", metavar="N",
                                help="Server processes sharing the port (default 1)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not log each request."),
) -> None:
    """Serve the survey page (/s/TOKEN) and GET /healthz, against the workspace's database."""
    from unmo_cli import console
    from unmo_cli.workspace import load_workspace

    try:  # an optional extra: the survey page's web stack
        from unmo_cli import survey_server
    except ModuleNotFoundError as exc:
        from unmo_cli.errors import EnvironmentFailure

        raise EnvironmentFailure(
            f"the survey page needs {(exc.name or 'its web stack').split('.')[0]!r}, which is not "
            "installed; install unmo with "
            "the survey extra: pip install 'unmo-cli[survey]'.") from None
    survey_server.serve(load_workspace(), host=host, port=port,
                        forwarded_allow_ips=forwarded_allow_ips, access_log=not quiet,
                        workers=workers,
                        on_ready=lambda url: console.info(
                            f"unmo survey serving at {url} (GET /healthz; Ctrl-C stops)"))
    console.info("survey server stopped.")
