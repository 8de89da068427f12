"""Segments of the portfolio: `unmo customer list` with its filters (combined with AND, in SQL
where the customers row holds the answer) and its orders. The health filter and order need each
customer's 0–100 health score: computed for every customer at once, as the weekly report's
portfolio does (services/reports.py), and only when the list asks for it. The list itself is
read through db/tables.py's Core clause on `Database.connection()`: a plain list imports neither
the model classes, SQLModel, pydantic nor SQLAlchemy's ORM (the report's module, which builds
them, is imported only for the health score)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlalchemy import select as sa_select

from unmo_cli import clock, metrics, money
from unmo_cli.db.tables import customers as customers_table
from unmo_cli.errors import InputError
from unmo_cli.services.customer_lookup import open_existing
from unmo_cli.services.customer_record import PHASES, customer_json
from unmo_cli.text import shown

if TYPE_CHECKING:
    from datetime import datetime

    from unmo_cli.workspace import Workspace

HEALTH_COLORS = ("green", "yellow", "red")
SORTS = ("created", "name", "mrr", "health", "renewal")
NO_MANAGER = "none"  # --manager none: the customers nobody owns


@dataclass(frozen=True)
class Segment:
    """The filters of one `customer list`, parsed; None means "any"."""

    phase: str | None = None
    industry: str | None = None
    integration: str | None = None
    provider: str | None = None
    tier: str | None = None
    manager: str | None = None  # an address, or NO_MANAGER
    health: str | None = None
    mrr_min_cents: int | None = None
    mrr_max_cents: int | None = None
    renewal_before: date | None = None
    sort: str = "created"

    @property
    def needs_health(self) -> bool:
        return self.health is not None or self.sort == "health"


def _choice(option: str, value: str | None, allowed: tuple[str, ...] | str) -> str | None:
    if value is None:
        return None
    if isinstance(allowed, str):
        # lazy: the onboarding answers' vocabularies (and ICU, for names) only for a filter on one
        from unmo_cli.services import onboarding_input

        allowed = getattr(onboarding_input, allowed)
    text = value.strip().lower()
    if text not in allowed:
        raise InputError(f"{option} {shown(value)} is not one of {', '.join(allowed)}.")
    return text


def _amount(option: str, value: str | None) -> int | None:
    if value is None:
        return None
    # lazy: the onboarding answers' amount rules (and ICU) only for --mrr-min / --mrr-max
    from unmo_cli.services.onboarding_input import FieldError, parse_mrr

    try:
        return parse_mrr(value)
    except FieldError as exc:
        raise InputError(f"{option} {exc}") from None


def parse_segment(*, phase: str | None = None, industry: str | None = None,
                  integration: str | None = None, provider: str | None = None,
                  tier: str | None = None, manager: str | None = None,
                  health: str | None = None, mrr_min: str | None = None,
                  mrr_max: str | None = None, renewal_before: str | None = None,
                  sort: str | None = None) -> Segment:
    """The options of `customer list`, checked: InputError (exit 2) for the first bad one, and
    for --mrr-min above --mrr-max."""
    if tier is not None:
        from unmo_cli.tiers import TIER_RE  # lazy: the tiers' module only for --tier

        if not TIER_RE.fullmatch(tier.strip().lower()):
            raise InputError(f"--tier {shown(tier)} is not a tier name; use lowercase letters, "
                             "digits, - and _ (e.g. standard, enterprise).")
    if manager is not None:
        manager = manager.strip()
        if manager.lower() == NO_MANAGER:
            manager = NO_MANAGER
        else:
            # lazy: the onboarding answers' address rules (and ICU) only when --manager is given
            from unmo_cli.services.onboarding_input import FieldError, parse_email

            try:
                manager = parse_email(manager)
            except FieldError as exc:
                raise InputError(f"--manager {exc}") from None
    low, high = _amount("--mrr-min", mrr_min), _amount("--mrr-max", mrr_max)
    if low is not None and high is not None and low > high:
        raise InputError(f"--mrr-min {money.for_people(low)} is above --mrr-max "
                         f"{money.for_people(high)}; no customer can match.")
    return Segment(
        phase=_choice("--phase", phase, PHASES),
        industry=_choice("--industry", industry, "INDUSTRIES"),
        integration=_choice("--integration", integration, "INTEGRATIONS"),
        provider=_choice("--provider", provider, "PROVIDERS"),
        tier=None if tier is None else tier.strip().lower(),
        manager=manager,
        health=_choice("--health", health, HEALTH_COLORS),
        mrr_min_cents=low, mrr_max_cents=high,
        renewal_before=None if renewal_before is None
        else clock.parse_day(renewal_before, what="--renewal-before"),
        sort=_choice("--sort", sort, SORTS) or "created")


def _query(segment: Segment) -> Any:
    c = customers_table.c
    query = sa_select(customers_table)
    for column, wanted in ((c.phase, segment.phase), (c.industry, segment.industry),
                           (c.integration, segment.integration), (c.provider, segment.provider),
                           (c.tier, segment.tier)):
        if wanted is not None:
            query = query.where(column == wanted)
    if segment.manager == NO_MANAGER:
        query = query.where(c.success_manager.is_(None))
    elif segment.manager is not None:
        # The local part keeps its case when stored; addresses match whatever case was typed.
        query = query.where(func.lower(c.success_manager) == segment.manager.lower())
    if segment.mrr_min_cents is not None:
        query = query.where(c.mrr_cents >= segment.mrr_min_cents)
    if segment.mrr_max_cents is not None:
        query = query.where(c.mrr_cents <= segment.mrr_max_cents)
    if segment.renewal_before is not None:
        query = query.where(c.renewal_date < segment.renewal_before)
    # The database orders only by creation (today's order, an index); the other orders are
    # applied in Python, so they are the same on both databases whatever their collation.
    return query.order_by(c.created_at, c.id)


def _order(rows: list[dict], sort: str) -> list[dict]:
    if sort == "name":
        # By the name folded for case (Straße = STRASSE), then its code points, then the slug.
        return sorted(rows, key=lambda r: (r["name"].casefold(), r["name"], r["slug"]))
    if sort == "mrr":  # the largest accounts first
        return sorted(rows, key=lambda r: (-money.cents_of(r["mrr"]), r["slug"]))
    if sort == "renewal":  # the soonest renewal first; those without a date last
        return sorted(rows, key=lambda r: (r["renewal_date"] is None, r["renewal_date"] or "",
                                           r["slug"]))
    if sort == "health":  # red, yellow, green, then no score; the lowest score first
        # lazy: the report's module (loaded already: the scores come from it)
        from unmo_cli.services.reports import COLOR_ORDER

        return sorted(rows, key=lambda r: (
            COLOR_ORDER.get(r["health_color"], len(COLOR_ORDER)),
            101 if r["health_score"] is None else r["health_score"], r["slug"]))
    return rows


def list_customers(ws: Workspace | None = None, *, segment: Segment | None = None,
                   now: datetime | None = None) -> list[dict]:
    """The customers of `segment` (every one by default, churned ones too), in its order. With
    --health or --sort health each object gains `health_score` and `health_color`: the score of
    `customer show` as of now (the last 7 days' checks and 30 days' feedback), computed for every
    customer in a few aggregates (reports._health_scores)."""
    segment = segment or Segment()
    ws, db = open_existing(ws)
    if db is None:
        return []
    try:
        # Plain rows, not ORM objects: a list of 10,000 is read in one query, without an
        # identity map to fill (customer_json reads a row's columns by the same names).
        with db.connection(snapshot=True) as connection:
            rows = [(row.id, customer_json(row))
                    for row in connection.execute(_query(segment))]
            if segment.needs_health and rows:
                # lazy: the report's module builds the model classes; only the score needs it
                from unmo_cli.services.reports import _health_scores

                settings = ws.settings
                (scores,) = _health_scores(connection, settings, [now or clock.now()])
                green_at, yellow_at = settings.health_score.green_at, \
                    settings.health_score.yellow_at
                for customer_id, document in rows:
                    score = scores.get(customer_id)
                    document["health_score"] = score
                    document["health_color"] = metrics.health_color(score, green_at, yellow_at)
    finally:
        db.dispose()
    customers = [document for _id, document in rows]
    if segment.health is not None:
        customers = [c for c in customers if c["health_color"] == segment.health]
    return _order(customers, segment.sort)
