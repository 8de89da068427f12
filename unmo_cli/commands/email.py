"""`unmo email send`: the welcome or survey e-mail to one customer, over SMTP, once."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import typer

from unmo_cli.commands.choices import completer
from unmo_cli.completion import complete_customer_slug

if TYPE_CHECKING:
    from unmo_cli.services.mail import Sending

app = typer.Typer(help="Send customers their e-mails over SMTP (each request once).",
                  no_args_is_help=True)


class Kind(enum.StrEnum):
    welcome = "welcome"
    survey = "survey"


@app.command("send")
def send(
    customer: str = typer.Argument(..., metavar="SLUG", help="Customer slug or exact name.",
                                   autocompletion=complete_customer_slug),
    kind: Kind = typer.Argument(..., metavar="KIND", autocompletion=completer(Kind),
                                help="Which e-mail: the welcome one onboarding wrote, or a "
                                "survey link."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent; send and "
                                 "write nothing."),
    retry_unknown: bool = typer.Option(False, "--retry-unknown", help="Send again a message "
                                       "whose earlier attempt ended without an answer (it may "
                                       "have arrived)."),
    with_survey: bool = typer.Option(False, "--with-survey", help="welcome: add the customer's "
                                     "survey link (survey.public_url)."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Send one e-mail to the customer's contact; a request already sent is not sent again."""
    # Function-level imports: the command modules stay light for `unmo --help` (cli.py).
    from unmo_cli import console
    from unmo_cli.services import mail, surveys
    from unmo_cli.workspace import load_workspace

    ws = load_workspace()
    if kind is Kind.welcome and with_survey:
        sending = surveys.send_welcome_with_survey(ws, customer, dry_run=dry_run,
                                                   retry_unknown=retry_unknown)
    elif kind is Kind.welcome:
        sending = mail.send_welcome(ws, customer, dry_run=dry_run, retry_unknown=retry_unknown)
    else:  # --with-survey is what a survey e-mail is anyway
        run = surveys.send_surveys(ws, [customer], dry_run=dry_run, retry_unknown=retry_unknown)
        if run.failures:
            from unmo_cli.errors import EnvironmentFailure

            raise EnvironmentFailure(run.failures[0])
        sending = run.sendings[0]
    if json_output:
        console.emit_json(sending.to_json())
    else:
        console.print_out(describe(sending))


def describe(s: Sending) -> str:
    """One line for a person: what was (or would be) sent, to whom (the address's domain)."""
    what = f"the {s.kind} e-mail to {s.customer} ({s.to}), {s.message_id}"
    if s.outcome == "would_send":
        return f"Would send {what} (dry run: nothing sent or written)."
    if s.outcome == "already_sent":
        return f"Already sent {what} at {s.sent_at:%Y-%m-%d %H:%M} UTC; not sent again."
    return f"Sent {what}: the server answered {s.answer}."
