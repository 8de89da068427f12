"""The fixed vocabularies of command-line options, as enums: Typer shows them in --help,
completes them in the shell and refuses anything else before a command runs. They repeat the
services' constants (which cannot be imported at start-up: `unmo --help` stays light);
tests/test_help_voice.py keeps the two equal.

Where a service checks several answers together and names every bad one at once (onboard,
feedback add), the option stays a string that the service validates, with `choices()` as its
metavariable and `completer()` for the shell: same --help, same completion, one error message."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class Industry(StrEnum):
    gaming = "gaming"
    ecommerce = "ecommerce"
    fintech = "fintech"
    other = "other"


class Integration(StrEnum):
    sdk = "sdk"
    s2s = "s2s"
    hybrid = "hybrid"


class Provider(StrEnum):
    appsflyer = "appsflyer"
    adjust = "adjust"
    branch = "branch"
    kochava = "kochava"
    singular = "singular"
    none = "none"
    other = "other"


class Phase(StrEnum):
    discovery = "discovery"
    setup = "setup"
    launch = "launch"


class HealthColor(StrEnum):
    green = "green"
    yellow = "yellow"
    red = "red"


class ListSort(StrEnum):
    created = "created"
    name = "name"
    mrr = "mrr"
    health = "health"
    renewal = "renewal"


class KeyKind(StrEnum):
    publishable = "publishable"
    secret = "secret"


class KeyEnvironment(StrEnum):
    live = "live"
    test = "test"


class Category(StrEnum):
    technical = "technical"
    business = "business"
    support = "support"
    other = "other"


class FeedbackFormat(StrEnum):
    csv = "csv"
    json = "json"
    jsonl = "jsonl"


class ReportFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"
    html = "html"


class ReviewFormat(StrEnum):
    markdown = "markdown"
    html = "html"
    json = "json"
class TimelineKind(StrEnum):
    onboarded = "onboarded"
    phase = "phase"
    mrr = "mrr"
    change = "change"
    churn = "churn"
    reactivation = "reactivation"
    key = "key"
    email = "email"
    survey = "survey"
    feedback = "feedback"
    alert = "alert"
    alert_ack = "alert_ack"
    health = "health"
    note = "note"
    task = "task"
    task_done = "task_done"


def choices(vocabulary: type[StrEnum]) -> str:
    """The metavariable of a string option that the service validates itself (so that a bad
    value is reported with the others): its values as --help shows an enum's, a|b|c."""
    return "|".join(member.value for member in vocabulary)


def completer(vocabulary: type[StrEnum]) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [m.value for m in vocabulary if m.value.startswith((incomplete or "").lower())]

    return complete


def value(choice: StrEnum | None) -> str | None:
    """The plain string the services take (None stays None)."""
    return None if choice is None else choice.value
