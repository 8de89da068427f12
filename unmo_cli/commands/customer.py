"""`unmo customer list|show|set|phase|churn|reactivate|render|export|forget`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from unmo_cli.commands.choices import (
    HealthColor,
    Industry,
    Integration,
    ListSort,
    Phase,
    Provider,
    TimelineKind,
    value,
)
from unmo_cli.completion import complete_customer_slug

if TYPE_CHECKING:
    from unmo_cli.services.customer_detail import CustomerDetail

app = typer.Typer(help="List, inspect, change and re-render customers; their phase, churn "
                  "and return.",
                  no_args_is_help=True)


@app.command("list")
def list_(
    phase: Phase | None = typer.Option(None, "--phase", case_sensitive=False,
                                       help="Only the customers in this phase."),
    industry: Industry | None = typer.Option(None, "--industry", case_sensitive=False,
                                             help="Only this industry."),
    integration: Integration | None = typer.Option(None, "--integration", case_sensitive=False,
                                                   help="Only this integration."),
    provider: Provider | None = typer.Option(None, "--provider", case_sensitive=False,
                                             help="Only this attribution provider."),
    tier: str | None = typer.Option(None, "--tier", metavar="NAME",
                                    help="Only this service tier."),
    manager: str | None = typer.Option(None, "--manager", metavar="EMAIL",
                                       help="Only the accounts of this success manager "
                                       "('none': the unowned ones)."),
    health: HealthColor | None = typer.Option(None, "--health", case_sensitive=False,
                                              help="Only this health colour (the score of "
                                              "customer show, as of now)."),
    mrr_min: str | None = typer.Option(None, "--mrr-min", metavar="AMOUNT",
                                       help="Only an MRR of at least this many dollars."),
    mrr_max: str | None = typer.Option(None, "--mrr-max", metavar="AMOUNT",
                                       help="Only an MRR of at most this many dollars."),
    renewal_before: str | None = typer.Option(None, "--renewal-before", metavar="DATE",
                                              help="Only a renewal date before this day "
                                              "(YYYY-MM-DD)."),
    sort: ListSort | None = typer.Option(None, "--sort", case_sensitive=False,
                                         help="The order (default: created, oldest first)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Every customer, oldest first (churned ones too); the filters combine."""
    from unmo_cli import console, money
    from unmo_cli.services.segments import list_customers, parse_segment

    segment = parse_segment(
        phase=value(phase), industry=value(industry), integration=value(integration),
        provider=value(provider), tier=tier, manager=manager, health=value(health),
        mrr_min=mrr_min, mrr_max=mrr_max, renewal_before=renewal_before, sort=value(sort))
    customers = list_customers(None, segment=segment)
    if json_output:
        console.emit_json(customers)
        return
    health_column = [console.key("health")] if segment.needs_health else []
    table = console.DataTable(f"{len(customers)} customers", [
        console.key("slug"), console.text("name", min_width=16), console.key("phase"),
        console.key("integration"), console.number("MRR"), *health_column,
        console.key("created"), console.key("churned")])
    for c in customers:
        table.add_row(c["slug"], c["name"], c["phase"], c["integration"],
                      money.for_people(money.cents_of(c["mrr"])),
                      *(_health_cell(c) if segment.needs_health else ()),
                      (c["created_at"] or "")[:10], (c["churned_at"] or "")[:10])
    console.print_out(table)


def _health_cell(customer: dict[str, object]) -> tuple[str]:
    """The health column's cell of a `customer list` row: score and colour, or blank."""
    score = customer["health_score"]
    return (f"{score} {customer['health_color']}" if score is not None else "",)


@app.command("show")
def show(
    slug: str = typer.Argument(..., metavar="SLUG", help="Slug or name of the customer.",
                               autocompletion=complete_customer_slug),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A customer: record, keys (hints), onboarding, latest feedback and health."""
    from dataclasses import asdict

    from unmo_cli import console
    from unmo_cli.services.customer_detail import customer_detail

    detail = customer_detail(None, slug)
    if json_output:
        document = asdict(detail)
        extra = document.pop("extra")
        console.emit_json({**document, **extra})
        return
    _render_detail(detail)


def _render_detail(detail: CustomerDetail) -> None:
    from rich.text import Text

    from unmo_cli import console, money

    c = detail.customer
    record = [(k, money.for_people(money.cents_of(v)) if k == "mrr" else v)
              for k, v in c.items() if k not in ("slug", "name")]
    console.print_out(console.key_value_table([*record, ("folder", detail.directory + "/")],
                                              f"{c['name']} ({c['slug']})"))
    keys = console.DataTable("Keys", [console.key(column) for column in
                                      ("kind", "environment", "hint", "status", "created")])
    for k in detail.keys:
        keys.add_row(k["kind"], k["environment"], k["hint"], k["status"],
                     (k["created_at"] or "")[:10])
    console.print_out(keys)
    onboarding = detail.onboarding
    if onboarding:
        steps = ", ".join(f"{s['name']} {s['duration_s']:.3f}s" for s in onboarding["steps"])
        console.print_out(Text(f"Onboarding ({onboarding['mode']}): "
                               f"{onboarding['duration_s']:.2f} s — {steps}"))
    for title, section in (("Feedback", detail.feedback), ("Health", detail.health),
                           *detail.extra.items()):
        if section:
            console.print_out(console.key_value_table(section.items(), title.capitalize()))


@app.command("phase")
def phase(
    slug: str = typer.Argument(..., metavar="SLUG", help="Slug or name of the customer.",
                               autocompletion=complete_customer_slug),
    new_phase: Phase = typer.Argument(..., metavar="PHASE", case_sensitive=False,
                                      help="The lifecycle phase to move to."),
) -> None:
    """Move a customer to another lifecycle phase."""
    from unmo_cli import console
    from unmo_cli.services.customers import set_phase

    customer = set_phase(None, slug, new_phase.value)
    console.info(f"{customer['slug']} is now in the {customer['phase']} phase.")


@app.command("churn")
def churn(
    slug: str = typer.Argument(..., metavar="SLUG", help="Slug or name of the customer.",
                               autocompletion=complete_customer_slug),
    reason: str = typer.Option(..., "--reason", metavar="TEXT", help="Why they left."),
    effective: str | None = typer.Option(None, "--effective", metavar="DATE",
                                         help="When they left (YYYY-MM-DD in the workspace "
                                         "timezone, or ISO 8601); default now."),
) -> None:
    """Mark a customer churned (kept, but excluded from active counts)."""
    from unmo_cli import console
    from unmo_cli.services.accounts import churn as churn_customer

    customer = churn_customer(None, slug, reason, effective=effective)
    console.info(f"{customer['slug']} churned at {customer['churned_at']}.")


@app.command("set")
def set_(
    slug: str = typer.Argument(..., metavar="SLUG", help="Slug or name of the customer.",
                               autocompletion=complete_customer_slug),
    mrr: str | None = typer.Option(None, "--mrr", metavar="AMOUNT",
                                   help="New monthly recurring revenue in dollars (an "
                                   "expansion or a contraction)."),
    contact_name: str | None = typer.Option(None, "--contact-name", metavar="TEXT",
                                            help="The customer's contact person."),
    contact_email: str | None = typer.Option(None, "--contact-email", metavar="EMAIL",
                                             help="The contact's e-mail address."),
    success_manager: str | None = typer.Option(None, "--success-manager", metavar="EMAIL",
                                               help="Your team's owner of the account "
                                               "('none' clears it)."),
    renewal_date: str | None = typer.Option(None, "--renewal-date", metavar="DATE",
                                            help="Contract renewal date, YYYY-MM-DD ('none' "
                                            "clears it)."),
    tier: str | None = typer.Option(None, "--tier", metavar="NAME",
                                    help="Service tier, e.g. standard or enterprise."),
    effective: str | None = typer.Option(None, "--effective", metavar="DATE",
                                         help="When the change takes effect (YYYY-MM-DD in "
                                         "the workspace timezone, or ISO 8601); default now. "
                                         "A past date moves the figures of the weeks after it."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Change a customer's record; every change is kept with its effective date."""
    from unmo_cli import console
    from unmo_cli.services.accounts import set_customer

    result = set_customer(None, slug, effective=effective, mrr=mrr, contact_name=contact_name,
                          contact_email=contact_email, success_manager=success_manager,
                          renewal_date=renewal_date, tier=tier)
    if json_output:
        console.emit_json(result)
        return
    _say_changes(result)


@app.command("reactivate")
def reactivate(
    slug: str = typer.Argument(..., metavar="SLUG", help="Slug or name of the customer.",
                               autocompletion=complete_customer_slug),
    mrr: str | None = typer.Option(None, "--mrr", metavar="AMOUNT",
                                   help="What they pay now, in dollars; default what they paid "
                                   "before they churned."),
    effective: str | None = typer.Option(None, "--effective", metavar="DATE",
                                         help="When they returned (YYYY-MM-DD in the workspace "
                                         "timezone, or ISO 8601); default now."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A churned customer returns (a reactivation)."""
    from unmo_cli import console
    from unmo_cli.services.accounts import reactivate as reactivate_customer

    result = reactivate_customer(None, slug, mrr=mrr, effective=effective)
    if json_output:
        console.emit_json(result)
        return
    _say_changes(result)


def _say_changes(result: dict) -> None:
    from unmo_cli import console, money

    slug = result["customer"]["slug"]
    if result.get("folder"):
        console.warn(result["folder"])
    if not result["changes"]:
        console.info(f"{slug}: nothing changed (the values given are the ones in effect then).")
        return
    for change in result["changes"]:
        old, new = change["old"], change["new"]
        if change["field"] == "mrr":
            old = money.for_people(money.cents_of(old)) if old is not None else None
            new = money.for_people(money.cents_of(new)) if new is not None else None
        kind = f" ({change['kind']})" if change["kind"] != "change" else ""
        console.info(f"{slug}: {change['field']} {old or '—'} → {new or '—'}{kind}, effective "
                     f"{change['effective_at']}.")


@app.command("render")
def render(
    slugs: list[str] | None = typer.Argument(None, metavar="SLUG",
                                             help="Slugs (or names) to re-render.",
                                             autocompletion=complete_customer_slug),
    every: bool = typer.Option(False, "--all", help="Every customer."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 listing the files "
                               "that differ from the current templates."),
) -> None:
    """Re-render customer folders from the current templates, keeping their keys."""
    from unmo_cli import console
    from unmo_cli.services.customers import render_customers

    results = render_customers(None, list(slugs or []), every=every, check=check)
    for r in results:  # with --check, drift has already ended the command (exit 1)
        if r.changed and not check:
            console.info(f"{r.directory}: rewrote {', '.join(r.changed)}")
        else:
            console.info(f"{r.directory}: up to date")
        if r.local_api_url:
            console.warn(f"{r.directory} gives its customer {r.local_api_url}, an address on this "
                         "machine; set api_base_url in its customer.yaml to the platform's URL "
                         "(e.g. https://api.unmogrowp.com/v1) and re-render.")
        if r.missing_secrets and not check:
            console.warn(f"{r.directory}/.env is missing or holds other keys than the database, "
                         f"so it was left alone; run unmo keys rotate {r.slug} --kind secret to "
                         "issue new secret keys.")


@app.command("export")
def export(
    slug: str = typer.Argument(..., metavar="SLUG", help="Slug or name of the customer.",
                               autocompletion=complete_customer_slug),
    output: Path = typer.Option(..., "--output", "-o", metavar="FILE",
                                help="Where to write the JSON document (owner-only, 0600)."),
    json_output: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Everything unmo holds about a customer, in one JSON file (GDPR access); no secrets."""
    from unmo_cli import console
    from unmo_cli.services.privacy import export_customer

    result = export_customer(None, slug, output)
    if json_output:
        console.emit_json(result.to_json())
        return
    rows = sum(result.tables.values())
    console.info(f"{result.customer}: {rows} rows from {len(result.tables)} tables written to "
                 f"{result.output}.")


ERASED_KINDS = {"contact": "contact fields", "record_history": "record history entries",
                "feedback_comments": "feedback comments", "alert_quotes": "quotes in alerts",
                "notes": "notes", "reasons": "churn reasons", "task_notes": "task notes",
                "task_titles": "task titles",
                "email_sendings": "e-mail sendings"}


@app.command("forget")
def forget(
    slug: str = typer.Argument(..., metavar="SLUG", help="Slug or name of the customer.",
                               autocompletion=complete_customer_slug),
    yes: bool = typer.Option(False, "--yes", "-y", help="Confirm the erasure."),
    json_output: bool = typer.Option(False, "--json", help="Print what was erased as JSON."),
) -> None:
    """Erase a customer's personal data (GDPR erasure); scores, MRR and checks stay."""
    from unmo_cli import console
    from unmo_cli.services.privacy import forget_customer

    result = forget_customer(None, slug, yes=yes)
    if json_output:
        console.emit_json(result.to_json())
    else:
        erased = ", ".join(f"{n} {ERASED_KINDS[kind]}" for kind, n in result.erased.items())
        console.info(f"{result.customer}: erased {erased}; {result.keys_revoked} keys revoked"
                     + ("; folder removed." if result.folder_removed else "."))
    if not result.scrubbed:
        console.warn("another process was reading the database, so its write-ahead log still "
                     "holds the erased values until the next checkpoint; run unmo customer "
                     f"forget {result.customer} --yes again once it has finished.")
    for backup in result.backups:
        console.warn(f"{backup} is a copy of the database made before this erasure and still "
                     "holds what it erased; delete it once you no longer need it.")
@app.command("note")
def note(
    slug: str = typer.Argument(..., metavar="SLUG", help="Slug or name of the customer.",
                               autocompletion=complete_customer_slug),
    text: str = typer.Argument(..., metavar="TEXT", help="The note: a call, a meeting, a "
                               "decision (several lines are fine; - reads it from stdin)."),
    at: str | None = typer.Option(None, "--at", metavar="DATE",
                                  help="When it happened (YYYY-MM-DD in the workspace "
                                  "timezone, or ISO 8601); default now."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Add a note to a customer's timeline."""
    import sys

    from unmo_cli import console
    from unmo_cli.services.notes import add_note

    recorded = add_note(None, slug, sys.stdin.read() if text == "-" else text, at=at)
    if json_output:
        console.emit_json(recorded)
        return
    console.info(f"{recorded['customer']}: note recorded, dated {recorded['at']}.")


@app.command("timeline")
def timeline(
    slug: str = typer.Argument(..., metavar="SLUG", help="Slug or name of the customer.",
                               autocompletion=complete_customer_slug),
    since: str | None = typer.Option(None, "--since", metavar="DATE", help="From this date "
                                     "(YYYY-MM-DD, in the workspace timezone) or ISO 8601 time."),
    kinds: list[TimelineKind] | None = typer.Option(None, "--kind", case_sensitive=False,
                                                    help="Only events of this kind (repeat "
                                                    "for several)."),
    limit: int | None = typer.Option(None, "--limit", metavar="N",
                                     help="Only the N most recent events (still oldest first)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A customer's history, oldest first: onboarding, changes, feedback, alerts, health, notes."""
    from unmo_cli import console
    from unmo_cli.services.timeline import customer_timeline

    found = customer_timeline(None, slug, since=since, limit=limit, details=json_output,
                              kinds=[k.value for k in kinds or ()])
    if json_output:
        console.emit_json([event.to_json() for event in found.events])
        return
    count = len(found.events)
    table = console.DataTable(f"{found.customer}: {count} event{'s' if count != 1 else ''}", [
        console.key("at (UTC)"), console.key("kind"), console.text("what", wrap=True)])
    # isoformat is strftime's text for years from 1000, at a third of its cost
    table.add_rows((e.at.isoformat(" ", "minutes") if e.at.year >= 1000
                    else e.at.strftime("%Y-%m-%d %H:%M"), e.kind, e.summary)
                   for e in found.events)
    console.print_out(table)
