"""Interactive onboarding questions (questionary); UI only. The answers are checked with the same
parsers the flags and --from files go through, so a prompt refuses exactly what a flag would."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import questionary

from unmo_cli import clock, console, money
from unmo_cli.errors import Cancelled, InputError
from unmo_cli.services import onboarding
from unmo_cli.services.onboarding import FieldError

if TYPE_CHECKING:
    from unmo_cli.workspace import Workspace

Steps = list[tuple[str, float, str]]

QUESTIONS = {
    "name": "Customer (company or app) name:",
    "contact_name": "Contact person or team:",
    "contact_email": "Contact e-mail:",
    "industry": "Industry:",
    "integration": "Integration:",
    "platforms": "Platforms:",
    "events_per_day": "Expected events per day:",
    "provider": "Attribution provider they leave:",
    "mrr": "MRR in dollars:",
    "success_manager": "Success manager e-mail (optional):",
}
DEFAULTS = {"industry": "gaming", "integration": "sdk", "events_per_day": "10000",
            "provider": "none", "mrr": "2500"}
INTEGRATION_TITLES = {"sdk": "sdk — the app SDK (iOS/Android)",
                      "s2s": "s2s — server-to-server API calls",
                      "hybrid": "hybrid — SDK and server-to-server"}


def _validator(parse: Callable[[Any], Any], extra: Callable[[str], str | None] | None = None
               ) -> Callable[[str], bool | str]:
    def check(text: str) -> bool | str:
        try:
            parse(text)
        except FieldError as exc:
            return str(exc)
        problem = extra(text) if extra else None
        return problem or True

    return check


def ask_customer(ws: Workspace, raw: dict[str, Any], *, confirm: bool, dry_run: bool
                 ) -> tuple[dict[str, Any], Steps]:
    """Ask every missing answer, show a summary and confirm; returns the answers and the timed
    `collect_answers` step. Ctrl-C or "no" records a cancelled session and raises Cancelled."""

    errors = onboarding.field_errors(raw, onboarding.OPTIONS.__getitem__)
    if errors:  # a mistyped flag is reported, not silently asked again
        raise InputError("; ".join(e.rstrip(".") for e in errors) + ".")
    began = clock.monotonic()
    answers = dict(raw)
    try:
        _ask_missing(ws, answers)
        _summary(answers)
        if confirm:
            verb = "Show what would be created" if dry_run else "Onboard"
            if not questionary.confirm(f"{verb} {answers['name']}?", default=True).unsafe_ask():
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        elapsed = clock.monotonic() - began
        if not dry_run:
            onboarding.record_cancelled(ws, str(answers.get("name") or ""), "interactive",
                                        elapsed)
        raise Cancelled("onboarding cancelled; nothing was created.") from None
    return answers, [("collect_answers", clock.monotonic() - began, "success")]


def _ask_missing(ws: Workspace, answers: dict[str, Any]) -> None:
    def taken(text: str) -> str | None:
        return onboarding.name_taken(ws, text)

    for field in onboarding.FIELDS:
        if onboarding.missing_fields(answers).count(field) == 0 and field != "success_manager":
            continue
        if field == "success_manager" and answers.get(field) is not None:
            continue
        question = QUESTIONS[field]
        if field in ("industry", "integration", "provider"):
            choices = {"industry": onboarding.INDUSTRIES, "provider": onboarding.PROVIDERS,
                       "integration": onboarding.INTEGRATIONS}[field]
            answer = questionary.select(
                question,
                choices=[questionary.Choice(INTEGRATION_TITLES.get(c, c), value=c)
                         for c in choices],
                default=DEFAULTS[field],
            ).unsafe_ask()
        elif field == "platforms":
            answer = questionary.checkbox(
                question,
                choices=[questionary.Choice(p, value=p, checked=True)
                         for p in onboarding.PLATFORMS],
                validate=lambda chosen: bool(chosen) or "choose at least one platform",
            ).unsafe_ask()
        else:
            parse = onboarding.PARSERS[field]
            answer = questionary.text(
                question,
                default=DEFAULTS.get(field, ""),
                validate=_validator(parse, taken if field == "name" else None),
            ).unsafe_ask()
        answers[field] = answer


def _summary(answers: dict[str, Any]) -> None:
    rows = [(field, answers.get(field)) for field in onboarding.FIELDS]
    rows = [(field, money.for_people(onboarding.parse_mrr(value)) if field == "mrr" else value)
            for field, value in rows]
    rows.append(("folder", f"customers/{onboarding.slugify(str(answers['name']))}/"))
    console.print_out(console.key_value_table(rows, "New customer"))
