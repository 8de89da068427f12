"""`unmo onboard [NAME]`: flags, interactive prompts in a terminal, or `--from FILE`."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from unmo_cli.commands.choices import Industry, Integration, Provider, choices, completer

if TYPE_CHECKING:
    from unmo_cli.services.onboarding import OnboardResult
    from unmo_cli.workspace import Workspace


def register(app: typer.Typer) -> None:
    app.command("onboard")(onboard)


def onboard(
    name: str | None = typer.Argument(None, metavar="NAME",
                                      help="The customer's company or app name."),
    contact_name: str | None = typer.Option(None, "--contact-name", metavar="NAME",
                                            help="Person or team."),
    contact_email: str | None = typer.Option(None, "--contact-email", metavar="EMAIL",
                                             help="Their e-mail."),
    # Strings checked by the service, which names every bad or missing answer at once.
    industry: str | None = typer.Option(None, "--industry", metavar=choices(Industry),
                                        autocompletion=completer(Industry),
                                        help="Their industry."),
    integration: str | None = typer.Option(None, "--integration", metavar=choices(Integration),
                                           autocompletion=completer(Integration),
                                           help="SDK in the app, server-to-server, or both."),
    platforms: str | None = typer.Option(None, "--platforms", metavar="ios|android|ios,android",
                                         help="The app's platforms (sdk and hybrid)."),
    events_per_day: str | None = typer.Option(None, "--events-per-day", metavar="N",
                                              help="Expected events per day."),
    provider: str | None = typer.Option(None, "--provider", metavar=choices(Provider),
                                        autocompletion=completer(Provider),
                                        help="The attribution provider they leave."),
    mrr: str | None = typer.Option(None, "--mrr", metavar="AMOUNT",
                                   help="Monthly revenue in dollars, e.g. 2500.50."),
    success_manager: str | None = typer.Option(None, "--success-manager", metavar="EMAIL",
                                               help="E-mail of their success manager."),
    tier: str | None = typer.Option(None, "--tier", metavar="NAME",
                                    help="Service tier (default: standard); one of `tiers:` "
                                    "in unmo.yaml when it names any."),
    from_file: Path | None = typer.Option(None, "--from", metavar="FILE",
                                          help="YAML or JSON file: one customer or a list, "
                                          "onboarded as one unit.", dir_okay=False),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be created; write "
                                 "nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Print the full keys, secret "
                                      "ones included (they are otherwise only in .env)."),
    send_welcome: bool = typer.Option(False, "--send-welcome", help="E-mail the welcome message "
                                      "to the contact once onboarded (email.smtp_url)."),
) -> None:
    """Create a customer: record, keys, and customers/<slug>/ rendered from the templates."""
    from unmo_cli import console
    from unmo_cli.services import onboarding
    from unmo_cli.workspace import load_workspace

    raw: dict[str, Any] = {
        "name": name, "contact_name": contact_name, "contact_email": contact_email,
        "industry": industry, "integration": integration, "platforms": platforms,
        "events_per_day": events_per_day, "provider": provider, "mrr": mrr,
        "success_manager": success_manager, "tier": tier,
    }
    ws = load_workspace()
    if sending := send_welcome and not dry_run:
        from unmo_cli.services.mail import server_for  # only then: it builds the model classes
        server_for(ws)  # no server or no password: exit 3 before anything is onboarded
    if from_file is not None:
        results = onboarding.onboard_file(ws, from_file, raw, dry_run=dry_run,
                                          progress=partial(console.progress, threshold=10))
    else:
        results = [_onboard_one(ws, raw, dry_run=dry_run, confirm=not yes)]
    _show(results, json_output=json_output, show_secrets=show_secrets, many=from_file is not None)
    _warn(results)
    if sending:
        _send_welcomes(ws, results, quiet=json_output)


def _send_welcomes(ws: Workspace, results: list[OnboardResult], *, quiet: bool) -> None:
    """After the commit: each welcome e-mail once; a failure leaves the customers onboarded
    and says how to send it later (exit 3)."""
    from unmo_cli import console
    from unmo_cli.commands.email import describe
    from unmo_cli.errors import EnvironmentFailure
    from unmo_cli.services.mail import send_welcome

    failures = []
    for result in results:
        slug = result.customer["slug"]
        try:
            sending = send_welcome(ws, slug)
        except EnvironmentFailure as exc:
            failures.append(f"{slug} is onboarded, but {exc} Send it later with: unmo email "
                            f"send {slug} welcome")
            continue
        if not quiet:
            console.info(describe(sending))
    for failure in failures[1:]:
        console.warn(failure)
    if failures:
        raise EnvironmentFailure(failures[0])


def _onboard_one(ws: Workspace, raw: dict[str, Any], *, dry_run: bool, confirm: bool
                 ) -> OnboardResult:
    """From the flags, asking what is missing when a person is at a terminal."""
    from unmo_cli import console
    from unmo_cli.services import onboarding

    mode, prior = "flags", None
    if onboarding.missing_fields(raw) and console.can_prompt():
        from unmo_cli.prompts import ask_customer

        mode = "interactive"
        raw, prior = ask_customer(ws, raw, confirm=confirm, dry_run=dry_run)
    return onboarding.onboard(ws, raw, mode=mode, dry_run=dry_run, prior_steps=prior)


def _show(results: list[OnboardResult], *, json_output: bool, show_secrets: bool,
          many: bool) -> None:
    from unmo_cli import console

    if json_output:
        documents = [r.as_json(show_secrets=show_secrets) for r in results]
        console.emit_json(documents if many else documents[0])
        return
    if many and len(results) > 1:
        table = console.DataTable(
            ("Would onboard" if results[0].dry_run else "Onboarded") + f" {len(results)} "
            "customers", [console.text("customer", min_width=16), console.key("folder"),
                          console.key("integration"), console.number("seconds")])
        for r in results:
            seconds = f"{r.onboarding['duration_s']:.3f}" if r.onboarding else None
            table.add_row(r.customer["name"], r.directory + "/", r.customer["integration"],
                          seconds)
        console.print_out(table)
        if show_secrets:
            for r in results:
                _keys_table(r, show_secrets=True)
        return
    for r in results:
        _one(r, show_secrets=show_secrets)


def _warn(results: list[OnboardResult]) -> None:
    """What could not be done after the commit (see OnboardResult.warnings), once each."""
    from unmo_cli import console

    for warning in dict.fromkeys(w for r in results for w in r.warnings):
        console.warn(warning)


def _one(result: OnboardResult, *, show_secrets: bool) -> None:
    customer = result.customer
    if result.dry_run:
        _say(f"Would onboard {customer['name']} into {result.directory}/ (dry run: nothing "
             "written).")
    else:
        _say(f"Onboarded {customer['name']} into {result.directory}/ in "
             f"{result.onboarding['duration_s']:.2f} s.")
    _keys_table(result, show_secrets=show_secrets)
    _say("Files: " + ", ".join(result.files))
    if not result.dry_run:
        _say(f"Secret keys are only in {result.directory}/.env (mode 0600, ignored by git); "
             "run with --show-secrets to print them once.")


def _say(text: str) -> None:
    from unmo_cli import console

    console.out().print(text, markup=False, highlight=False)


def _keys_table(result: OnboardResult, *, show_secrets: bool) -> None:
    from unmo_cli import console

    table = console.DataTable(f"Keys of {result.customer['slug']}", [
        console.key(column) for column in ("kind", "environment",
                                           "key" if show_secrets else "hint")])
    for key in result.keys:
        shown = key["hint"]
        if show_secrets:
            shown = result.secrets.get(f"{key['kind']}_{key['environment']}", shown)
        table.add_row(key["kind"], key["environment"], shown)
    console.print_out(table)
