"""The weekly and monthly reports: every figure of `unmo report weekly` and `unmo report
monthly`, computed by SQL aggregates over the indexed time columns and turned into figures by the
contract's definitions (unmo_cli.metrics).

Weeks are ISO weeks, months calendar months, in the workspace's time zone (services/periods.py):
local midnight to local midnight (exclusive), converted to UTC instants, so a DST change shortens or
lengthens the period by an hour instead of moving its edges. The code below says "week" for either:
a Month has the same interface. Customers and MRR come from the MRR ledger
(services/report_ledger.py), the tasks block from the tasks table. The edges are computed in Python
and reach the SQL as naive-UTC bounds; every query is SQLAlchemy Core that SQLite and PostgreSQL run
alike: COUNT/SUM/CASE over a range of a time index (one aggregate per week, sent as one UNION ALL),
GROUP BY customer for the portfolio, ORDER BY … LIMIT 1 OFFSET k for nearest-rank percentiles.
Python never loops over feedback rows; the health checks are read once, row by row, for every
figure of theirs (services/check_windows.py).

The figures themselves and their JSON are services/report_figures.py; the ledger's reading
services/report_ledger.py, the checks' services/check_windows.py, the per-customer windows'
services/window_tallies.py. Over 500 lines as one module: the report's queries, which share
their helpers (the periods' edges as naive UTC, the ranges, the tables) and one order of
reading (compute_report, which sends the independent ones beside it: db/beside.py)."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime
from fractions import Fraction
from functools import partial
from itertools import chain
from operator import attrgetter
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, select, union_all

from unmo_cli import clock, metrics, testhooks
from unmo_cli.db import beside, database_exists, open_database, open_empty, tables
from unmo_cli.db.beside import Beside
from unmo_cli.errors import InputError
from unmo_cli.files import check_output_path
from unmo_cli.metrics import SUMMARY_WINDOW, TECHNICAL_WINDOW
from unmo_cli.services import report_ledger, window_tallies
from unmo_cli.services.check_windows import CheckWindows, read_checks
from unmo_cli.services.periods import Month as Month
from unmo_cli.services.periods import Period as Period
from unmo_cli.services.periods import Week as Week
from unmo_cli.services.periods import last_complete_month as last_complete_month
from unmo_cli.services.periods import last_complete_week as last_complete_week
from unmo_cli.services.periods import parse_month as parse_month
from unmo_cli.services.periods import parse_week as parse_week
from unmo_cli.services.periods import week_of as week_of
from unmo_cli.services.report_figures import (
    CHANGE_FIELDS,
    AlertRow,
    CustomerFigures,
    FinanceFigures,
    HealthFigures,
    MrrFigures,
    OnboardingFigures,
    PortfolioRow,
    RetentionFigures,
    SatisfactionFigures,
    SurveyFigures,
    TargetRow,
    Trends,
    WeekFigures,
    WeeklyReport,
)
from unmo_cli.services.sla import (
    at_risk,
    checks_window,
    fees_at,
    month_at,
    outage_gaps,
)
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from unmo_cli.workspace import Settings, Workspace

FORMATS = ("table", "markdown", "json", "csv", "html")
# Rows fetched at once where a query returns one per customer (100,000 at most): a fetch per row
# costs SQLAlchemy several times what making the row does; whole batches keep memory bounded.
BATCH = 5_000
TREND_WEEKS = 8  # the HTML page's trend charts; the report's own period is the last of them

# --- requests ------------------------------------------------------------------------------------


def check_format(fmt: str) -> str:
    value = fmt.strip().lower()
    if value not in FORMATS:
        raise InputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    return value


def weekly_report(week: str | None = None, fmt: str = "table",
                  output: Path | None = None, workspace: Workspace | None = None,
                  now: datetime | None = None) -> WeeklyReport:
    """The report of `week` (YYYY-Www; default the last complete week before `now`, which
    defaults to clock.now()). --format and --output are checked first, so a bad option writes
    nothing, not even the database file."""
    return period_report("week", week, fmt, output, workspace, now)


def monthly_report(month: str | None = None, fmt: str = "table",
                   output: Path | None = None, workspace: Workspace | None = None,
                   now: datetime | None = None) -> WeeklyReport:
    """The report of `month` (YYYY-MM; default the last complete calendar month before `now`),
    the weekly report's figures over a month; the same checks first."""
    return period_report("month", month, fmt, output, workspace, now)


def period_report(noun: str, text: str | None, fmt: str, output: Path | None,
                  workspace: Workspace | None, now: datetime | None) -> WeeklyReport:
    """The report of the week or month `text` names (its last complete one by default)."""
    check_format(fmt)
    if output is not None:
        check_output_path(output)
    ws = workspace or load_workspace()
    zone = ws.settings.timezone
    now = now or clock.now()
    parse, last_complete = ((parse_week, last_complete_week) if noun == "week"
                            else (parse_month, last_complete_month))
    chosen = parse(text, zone) if text else last_complete(now, zone)
    if chosen.start > now:
        raise InputError(f"{chosen.option} {chosen.label} has not started yet in {zone}; the "
                         f"last complete {noun} is {last_complete(now, zone).label}.")

    db = open_database(ws) if database_exists(ws) else open_empty()
    try:
        with beside.snapshot(db) as (connection, aside):
            return compute_report(connection, ws.settings, chosen, now, aside)
    finally:
        db.dispose()


# --- the queries ---------------------------------------------------------------------------------


def compute_report(connection: Connection, settings: Settings, week: Period,
                   now: datetime, aside: Beside | None = None) -> WeeklyReport:
    """The report of `week` as of `now`, read on `connection` (a snapshot block's). With
    `aside` (db.beside.snapshot's), the reads that need nothing the others find run on its
    second connection meanwhile: the feedback per week and per customer (the heaviest), the
    onboardings per week, the newest installs, the month's outages, the two weeks'
    percentiles, and on PostgreSQL the MRR ledger. The figures are the same either way."""
    weeks = [week.shifted(offset) for offset in range(1 - TREND_WEEKS, 1)]
    edges = [weeks[0].start] + [w.end for w in weeks]  # edges[i]..edges[i+1] is weeks[i]
    # The ledger is read as of each edge, and the period in progress as of now: an entry
    # effective later (UNMO_NOW in the past) belongs to a later report.
    ledger_edges = [_naive(min(edge, now)) for edge in edges]
    as_of = _as_of(week, now)
    sla_month = month_at(as_of, settings.timezone)
    aside = aside or Beside(connection, None)
    # One read of the ledger gives the trend, the portfolio's states and the SLA block's fees.
    read_ledger = partial(report_ledger.read_ledger, edges=ledger_edges,
                          fees_at=fees_at(sla_month))
    # Sent in the order they are needed: the first is done first. On PostgreSQL the ledger is
    # read beside too (its rows arrive whole, and the server reads them while this thread reads
    # the checks); on SQLite each row is a step of the reading thread's, so it is read here.
    ledger_pending = aside.submit(read_ledger) if aside.rows_arrive_whole else None
    feedback_pending = aside.submit(partial(_feedback_by_week, edges=edges))
    onboarding_pending = aside.submit(partial(_onboarding_by_week, edges=edges))
    windows_pending = aside.submit(partial(_feedback_windows, instants=[week.start, as_of],
                                           span=(week.start, week.end)))
    installs_pending = aside.submit(partial(_installs_at, instants=[week.start, as_of]))
    outages_pending = aside.submit(partial(outage_gaps, window=checks_window(sla_month, as_of)))
    # Every figure of the health checks in one read (check_windows): the two health-score
    # windows and the SLA month so far (their p95 latencies too), then the week before and the
    # report's week (health has no trend chart), the last with each customer's last status.
    checks = read_checks(connection, [
        *_score_windows([week.start, as_of]), checks_window(sla_month, as_of),
        *((_naive(w.start), _naive(w.end)) for w in weeks[-2:])],
        p95_in=(0, 1, 2), last_status_in=4)
    health_before, health_now = checks.totals(3), checks.totals(4)
    month_p95, month_checks = checks.p95(2), checks.month(2)  # the at-risk block's
    ledger = read_ledger(connection) if ledger_pending is None else ledger_pending.take()
    base, ledgers, fees = ledger.periods, ledger.customers, ledger.fees
    testhooks.checkpoint("report-read")  # the ledger and the checks read, the rest not yet
    del ledger  # so that `del ledgers` below frees them
    kept_before, kept_now = report_ledger.retentions(ledgers)
    zone = ZoneInfo(settings.timezone)
    tasks_before, tasks_now = report_ledger.task_figures(connection, [
        (_naive(w.start), _naive(_as_of(w, now)), _as_of(w, now).astimezone(zone).date())
        for w in weeks[-2:]])
    feedback = feedback_pending.take()
    onboarding = onboarding_pending.take()
    # The two weeks' percentiles (each a look-up in an index) beside the portfolio.
    ranks_pending = [aside.submit(partial(_week_ranks, week=w, onboardings=o["count"],
                                          with_latency=h["with_latency"]))
                     for w, o, h in ((weeks[-2], onboarding[-2], health_before),
                                     (weeks[-1], onboarding[-1], health_now))]
    aside.finish()  # the last work sent beside

    def dollars(cents: int) -> float:
        return metrics.cents_to_dollars(cents) or 0.0

    trends = Trends(
        weeks=[w.label for w in weeks],
        satisfaction_pct=[metrics.satisfaction_pct(f["score_sum"], f["responses"])
                          for f in feedback],
        nps=[metrics.nps(f["promoters"], f["detractors"], f["answered"]) for f in feedback],
        mrr=[dollars(b.mrr_cents) for b in base],
        onboarding_mean_s=[metrics.mean(o["duration_sum"], o["count"]) for o in onboarding],
        onboarding_mean_ms=[_mean_ms(o["duration_sum"], o["count"]) for o in onboarding],
        mrr_new=[dollars(b.movements.new) for b in base],
        mrr_expansion=[dollars(b.movements.expansion) for b in base],
        mrr_contraction=[dollars(b.movements.contraction) for b in base],
        mrr_churned=[dollars(b.movements.churned) for b in base],
        mrr_reactivation=[dollars(b.movements.reactivation) for b in base],
    )
    portfolio = _portfolio(connection, settings, week, now, ledgers, checks,
                           windows_pending.take(), installs_pending.take())
    previous = _week_figures(connection, settings, weeks[-2], base[-2], feedback[-2],
                             onboarding[-2], health_before, ranks_pending[0].take())
    current = _week_figures(connection, settings, weeks[-1], base[-1], feedback[-1],
                            onboarding[-1], health_now, ranks_pending[1].take())
    previous = replace(previous, retention=RetentionFigures.of(kept_before), tasks=tasks_before)
    current = replace(current, retention=RetentionFigures.of(kept_now), tasks=tasks_now)
    # The per-customer ledgers (~50 MB at 100,000 customers) are not needed after the portfolio:
    # freed before the at-risk block adds its own working set.
    del ledgers
    return WeeklyReport(
        timezone=settings.timezone,
        complete=week.end <= now,
        current=current,
        previous=previous,
        targets=_targets(settings, current),
        portfolio=portfolio,
        alerts=_alerts(connection, week, now),
        trends=trends,
        change=_changes(current, previous),
        sla_at_risk=at_risk(connection, settings, _as_of(week, now), fees=fees,
                            p95=month_p95, checks=month_checks,
                            outages=outages_pending.take()),
    )


def _tables() -> Any:
    """The Core table clauses the report reads (db/tables.py: no model classes to build)."""

    return SimpleNamespace(customers=tables.customers, feedback=tables.feedback,
                           onboarding=tables.onboarding_sessions, health=tables.health_checks,
                           alerts=tables.alerts)


def _naive(instant: datetime) -> datetime:
    return clock.to_db(instant)


def _count_if(condition: Any, value: Any = 1) -> Any:
    """SUM(CASE WHEN condition THEN value ELSE 0 END): an integer on both databases."""

    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _in_range(column: Any, start: datetime, end: datetime) -> Any:
    return and_(column >= _naive(start), column < _naive(end))


def _per_week(connection: Connection, column: Any, edges: list[datetime],
              aggregates: dict[str, Any], where: Any = None) -> list[dict[str, Any]]:
    """Aggregates for each week [edges[i], edges[i+1]): one plain aggregate per week, each a
    range read of the time column's index, sent as one UNION ALL. (A GROUP BY over a CASE of the
    week edges made both databases sort every row of the eight weeks first: several times
    slower.)"""

    parts = []
    for index, (start, end) in enumerate(zip(edges, edges[1:], strict=False)):
        condition = _in_range(column, start, end)
        if where is not None:
            condition = condition & where
        parts.append(select(literal(index).label("week_index"), func.count().label("rows"),
                            *[expression.label(name) for name, expression in aggregates.items()]
                            ).select_from(column.table).where(condition))
    statement = union_all(*parts) if len(parts) > 1 else parts[0]
    result = [{name: 0 for name in ("rows", *aggregates)} for _ in edges[1:]]
    for row in connection.execute(statement).mappings():
        result[int(row["week_index"])] = {k: v for k, v in row.items() if k != "week_index"}
    return result


def _feedback_by_week(connection: Connection, edges: list[datetime]) -> list[dict[str, int]]:
    f = _tables().feedback.c
    rows = _per_week(connection, f.received_at, edges, {
        "score_sum": func.coalesce(func.sum(f.satisfaction), 0),
        "answered": func.count(f.nps),
        "promoters": _count_if(f.nps >= 9),
        "detractors": _count_if(f.nps <= 6),
    })
    return [{"responses": int(r["rows"]), "score_sum": int(r["score_sum"] or 0),
             "answered": int(r["answered"] or 0), "promoters": int(r["promoters"] or 0),
             "detractors": int(r["detractors"] or 0)} for r in rows]


def _onboarding_by_week(connection: Connection, edges: list[datetime]) -> list[dict[str, Any]]:
    o = _tables().onboarding.c
    rows = _per_week(connection, o.finished_at, edges, {
        "duration_sum": func.sum(o.duration_s),
    }, where=o.outcome == "success")
    return [{"count": int(r["rows"]), "duration_sum": r["duration_sum"]} for r in rows]


def _value_at_rank(connection: Connection, column: Any, rank: int, count: int,
                   where: Any) -> float | None:
    """The value at 1-based `rank` of `count` values in ascending order: ORDER BY … LIMIT 1
    OFFSET rank-1, or, for a rank in the upper half (p95), the same value counted from the top
    (DESC, OFFSET count-rank), so the database keeps a small top-N heap instead of sorting the
    whole week."""

    if rank <= 0 or rank > count:
        return None
    if rank > count // 2:
        order, offset = column.desc(), count - rank
    else:
        order, offset = column.asc(), rank - 1
    statement = select(column).where(where).order_by(order).limit(1).offset(offset)
    value = connection.execute(statement).scalar()
    return None if value is None else float(value)


def _week_ranks(connection: Connection, week: Period, onboardings: int,
                with_latency: int) -> tuple[float | None, float | None, float | None]:
    """The week's median and p95 onboarding duration (of its `onboardings` successful ones)
    and p95 latency (of its `with_latency` checks with one, maintenance left out)."""
    t = _tables()
    o, h = t.onboarding.c, t.health.c
    in_week = _in_range(o.finished_at, week.start, week.end) & (o.outcome == "success")
    latency_where = (_in_range(h.checked_at, week.start, week.end) & h.latency_ms.isnot(None)
                     & (h.status != "maintenance"))
    return (_value_at_rank(connection, o.duration_s, metrics.median_rank(onboardings),
                           onboardings, in_week),
            _value_at_rank(connection, o.duration_s, metrics.nearest_rank(onboardings, 95),
                           onboardings, in_week),
            _value_at_rank(connection, h.latency_ms, metrics.nearest_rank(with_latency, 95),
                           with_latency, latency_where))


def _week_figures(connection: Connection, settings: Settings, week: Period,
                  base: report_ledger.PeriodLedger,
                  feedback: dict[str, int], onboarding: dict[str, Any],
                  health: dict[str, int],
                  ranks: tuple[float | None, float | None, float | None]) -> WeekFigures:
    """The week's figures; `ranks` its _week_ranks."""
    targets = settings.targets
    median, p95, p95_latency = ranks
    count = onboarding["count"]
    mean_s = metrics.mean(onboarding["duration_sum"], count)
    target_s = float(targets.onboarding_minutes) * 60
    # `met` compares the exact mean, not mean_s (one decimal) nor the targets row's minutes (two
    # decimals): rounding either way could flip it, and both places must say the same.
    exact_mean = (None if not count
                  else Fraction(str(onboarding["duration_sum"] or 0)) / count)
    exact_target = Fraction(str(targets.onboarding_minutes)) * 60
    onboarding_figures = OnboardingFigures(
        count=count, mean_s=mean_s, median_s=_round(median, 1), p95_s=_round(p95, 1),
        target_s=target_s, met=metrics.at_most(exact_mean, exact_target),
        mean_ms=_mean_ms(onboarding["duration_sum"], count),
        median_ms=None if median is None else _round(median * 1000, 3),
        p95_ms=None if p95 is None else _round(p95 * 1000, 3))

    answered = feedback["answered"]
    pct = metrics.satisfaction_pct(feedback["score_sum"], feedback["responses"])
    satisfaction = SatisfactionFigures(
        responses=feedback["responses"], pct=pct,
        nps=metrics.nps(feedback["promoters"], feedback["detractors"], answered),
        promoters=feedback["promoters"],
        passives=answered - feedback["promoters"] - feedback["detractors"],
        detractors=feedback["detractors"], target_pct=float(targets.satisfaction_pct),
        met=metrics.at_least(pct, targets.satisfaction_pct))

    health_figures = HealthFigures(
        checks=health["checks"],
        availability_pct=metrics.availability_pct(health["not_down"], health["checks"]),
        healthy_pct=metrics.healthy_pct(health["healthy"], health["checks"]),
        p95_latency_ms=_round(p95_latency, 1))

    mrr_cents = base.mrr_cents
    revenue = metrics.revenue_week_cents(mrr_cents)
    infra_dollars = Fraction(str(settings.finance.infra_cost_per_week))
    finance = FinanceFigures(
        revenue_week=metrics.cents_to_dollars(revenue) or 0.0,
        infra_cost_week=float(metrics.round_half_up(infra_dollars, 2)),
        gross_margin_pct=metrics.gross_margin_pct(revenue, infra_dollars * 100),
        cost_per_1k_events=metrics.cost_per_1k_events(infra_dollars, base.events_per_day))

    def dollars(cents: int) -> float:
        return metrics.cents_to_dollars(cents) or 0.0

    moves = base.movements
    return WeekFigures(
        week=week,
        customers=CustomerFigures(base.total, base.active, base.new, base.churned),
        mrr=MrrFigures(dollars(mrr_cents), dollars(base.mrr_cents_before),
                       dollars(mrr_cents - base.mrr_cents_before), dollars(moves.new),
                       dollars(moves.expansion), dollars(moves.contraction),
                       dollars(moves.churned), dollars(moves.reactivation)),
        onboarding=onboarding_figures, satisfaction=satisfaction, health=health_figures,
        finance=finance, surveys=_survey_figures(connection, week))


def _survey_figures(connection: Connection, week: Week) -> SurveyFigures:
    """The contract's survey response rate: invitations whose e-mail was sent within the week,
    and of those the ones answered by the week's end."""
    row = connection.execute(_survey_counts(week)).one()
    sent, answered = int(row[0] or 0), int(row[1] or 0)
    return SurveyFigures(sent, answered, metrics.survey_response_rate_pct(sent, answered))


def _survey_figures_by_customer(connection: Connection, week: Week
                                ) -> dict[int, SurveyFigures]:
    """_survey_figures for each customer who was sent an invitation in the week."""
    i = tables.survey_invitations.c
    figures = {}
    for customer_id, sent, answered in connection.execute(
            _survey_counts(week, i.customer_id).group_by(i.customer_id)):
        figures[customer_id] = SurveyFigures(
            int(sent), int(answered), metrics.survey_response_rate_pct(int(sent), int(answered)))
    return figures


def _survey_counts(week: Week, *keys: Any) -> Any:
    """SELECT [keys,] sent, answered: the one definition of both counts."""
    invitations, sendings = tables.survey_invitations, tables.email_sendings
    i, e = invitations.c, sendings.c
    return (select(*keys, func.count(i.id), _count_if(i.first_answered_at < _naive(week.end)))
            .select_from(invitations.join(sendings, e.id == i.sending_id))
            .where(e.outcome == "sent", _in_range(e.sent_at, week.start, week.end)))


def _mean_ms(total: float | None, count: int) -> float | None:
    """The mean duration in milliseconds, three decimals (exact: no float division)."""
    if not count:
        return None
    return float(metrics.round_half_up(Fraction(str(total or 0)) * 1000 / count, 3))


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else float(metrics.round_half_up(value, places))


def _changes(current: WeekFigures, previous: WeekFigures) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for section, names in CHANGE_FIELDS.items():
        now_values, before_values = getattr(current, section), getattr(previous, section)
        result[section] = {name: metrics.change(getattr(now_values, name),
                                                getattr(before_values, name))
                           for name in names}
    return result


def _targets(settings: Settings, figures: WeekFigures) -> list[TargetRow]:
    """One row per target. `met` is decided once per target: the onboarding and satisfaction
    rows take it from their sections (so the JSON's `onboarding.met` and the targets row never
    disagree); the others compare the figure the report shows."""
    t = settings.targets
    mean_minutes = (None if figures.onboarding.mean_s is None
                    else _round(figures.onboarding.mean_s / 60, 2))
    rows = [
        ("new_customers_per_week", "New customers", "customers", t.new_customers_per_week,
         figures.customers.new, metrics.at_least(figures.customers.new,
                                                 t.new_customers_per_week)),
        ("onboarding_minutes", "Onboarding time (mean)", "min", t.onboarding_minutes,
         mean_minutes, figures.onboarding.met),
        ("satisfaction_pct", "Customer satisfaction", "%", t.satisfaction_pct,
         figures.satisfaction.pct, figures.satisfaction.met),
        ("nps", "NPS", "", t.nps, figures.satisfaction.nps,
         metrics.at_least(figures.satisfaction.nps, t.nps)),
        ("p95_latency_ms", "P95 API latency", "ms", t.p95_latency_ms,
         figures.health.p95_latency_ms, metrics.at_most(figures.health.p95_latency_ms,
                                                         t.p95_latency_ms)),
        ("availability_pct", "Availability", "%", t.availability_pct,
         figures.health.availability_pct, metrics.at_least(figures.health.availability_pct,
                                                            t.availability_pct)),
        ("mrr", "MRR", "$", t.mrr, figures.mrr.current,
         metrics.at_least(figures.mrr.current, t.mrr)),
    ]
    # A count target stays a whole number; the others read the same from unmo.yaml or defaults.
    if figures.week.noun != "week":  # a target per week: not a month's
        rows = [row for row in rows if row[0] != "new_customers_per_week"]
    return [TargetRow(metric, label, unit, int(target) if metric == "new_customers_per_week"
                      else float(target), achieved, met)
            for metric, label, unit, target, achieved, met in rows]


def _as_of(week: Week, now: datetime) -> datetime:
    """The instant a report's state is taken at: the week's end, or now for the week still in
    progress. What happened at or after it belongs to a later report."""
    return min(week.end, now)


def _portfolio(connection: Connection, settings: Settings, week: Period, now: datetime,
               ledgers: dict[int, report_ledger.CustomerLedger], checks: CheckWindows,
               windows: window_tallies.Found,
               installs: list[dict[int, int]]) -> list[PortfolioRow]:
    """A row per customer active at some time in the week (by its MRR ledger: active at the
    start, or started or reactivated within it); per-customer figures come from one GROUP BY
    customer_id query each, the health checks' from `checks`: read_checks of the health-score
    windows as of the week's start and end (first, with their p95s) and of the week (its last
    statuses: last_status_in), the feedback's from `windows` (_feedback_windows of the
    health-score instants and the week), the installs' from `installs` (_installs_at those
    instants). Takes `ledgers` over: each customer's entry is removed as its row is made.
    `mrr` is the MRR the customer pays as of the end (or paid when it churned), `mrr_start`
    and `mrr_end` those in effect at the edges (0 while churned).

    Everything is as of the week's end: a churn after it is not shown, the phase is the one the
    customer had then (from the phase history), the health score is computed as of then and as
    of the end of the week before. Red accounts come first, then yellow, green and those without
    a score; by MRR and slug within each colour."""

    t = _tables()
    c = t.customers.c
    start = _naive(week.start)
    as_of = _as_of(week, now)
    # Per customer: checks, not down, and the status of the last check of the week (of two at
    # the same instant, the later-recorded one).
    health = checks.week()
    phases = _phases_as_of(connection, as_of)
    surveys = _survey_figures_by_customer(connection, week)
    no_surveys = SurveyFigures(0, 0, None)
    # The week's feedback of each customer comes with the scores, from the same pass.
    (scores_before, scores_now), feedback = _scores_and_span(
        connection, settings, [week.start, as_of], (week.start, week.end), checks, windows,
        installs)
    green_at, yellow_at = settings.health_score.green_at, settings.health_score.yellow_at
    platforms: dict[str, tuple[str, ...]] = {}  # the few distinct values, split once each
    # The customers last, read row by row as their rows are made (not all held first), and
    # every one of them: the week's filter and the order are applied here, not in SQL, where a
    # range over nearly all of the created_at index and a sort of every row cost SQLite 3x a
    # plain scan (and the order is then the same on every database: by MRR, then the slug's
    # code points, whatever the database's collation).
    # (In batches: a fetch per row costs SQLAlchemy several times what making the row does.)
    customers = chain.from_iterable(connection.execute(
        select(c.id, c.slug, c.name, c.industry, c.integration, c.platforms, c.provider,
               c.events_per_day, c.phase, c.created_at)).partitions(BATCH))
    rows = []
    dollars = metrics.cents_to_dollars
    # The few distinct texts of the categorical columns, one object each: the driver makes a
    # new string per row, and 100,000 rows held until written keep five of them each.
    shared = sys.intern  # (the columns are NOT NULL)
    sentiments: dict[tuple[int, ...], tuple[float | None, int | None]] = {}  # the few count sets
    availabilities: dict[tuple[int, int], float | None] = {}  # (checks, not down): as few
    for (customer_id, slug, name, industry, integration, listed, provider, events_per_day,
         phase, created_at) in customers:
        # Each customer's figures are taken out as its row is made, so they are freed while
        # the rows grow (at 100,000 customers the ledgers alone hold ~50 MB).
        ledger = ledgers.pop(customer_id, None)
        hc = health.pop(customer_id, None)
        answers = feedback.pop(customer_id, None)  # (responses, answered, score_sum, …)
        score, before = scores_now.pop(customer_id, None), scores_before.pop(customer_id, None)
        if ledger is None or not (ledger.active_start or ledger.entered):
            continue
        if answers is None:
            responses, satisfaction, nps = 0, None, None
        else:
            responses = answers[0]
            figures = sentiments.get(answers)
            if figures is None:
                figures = sentiments[answers] = (
                    metrics.satisfaction_pct(answers[2], responses),
                    metrics.nps(answers[3], answers[4], answers[1]))
            satisfaction, nps = figures
        churned_at = ledger.churned_at
        listed = listed or ""
        split = platforms.get(listed)
        if split is None:
            split = platforms[listed] = tuple(p for p in listed.split(",") if p)
        surveyed = surveys.get(customer_id, no_surveys)
        changed = phases.get(customer_id)
        movements = ledger.movements
        rows.append(PortfolioRow(
            slug=slug, name=name, industry=shared(industry), integration=shared(integration),
            platforms=split, provider=shared(provider), events_per_day=events_per_day,
            # The ledger's cents are ints: metrics.cents_to_dollars's cents / 100, inline.
            mrr=ledger.contracted_end / 100,
            phase=shared(phase) if changed is None else changed[0],
            new=created_at >= start,
            created_at=clock.iso(created_at),
            churned_at=None if churned_at is None else clock.iso(churned_at),
            responses=responses, satisfaction_pct=satisfaction, nps=nps,
            health_checks=int(hc.checks) if hc else 0,
            availability_pct=None if hc is None else _availability(
                availabilities, int(hc.checks), int(hc.not_down)),
            health_status=shared(hc.status) if hc else None,
            health_score=score, health_color=metrics.health_color(score, green_at, yellow_at),
            health_score_change=None if score is None or before is None else score - before,
            mrr_start=ledger.mrr_start / 100, mrr_end=ledger.mrr_end / 100,
            movements=NO_MOVEMENTS if not any(movements)
            else tuple(dollars(cents) or 0.0 for cents in movements),
            surveys_sent=surveyed.sent, surveys_answered=surveyed.answered,
            survey_response_rate_pct=surveyed.response_rate_pct))
    # By colour, then MRR descending, then slug: each colour's rows sorted twice on one
    # attribute (stable sorts; C key functions), not once on a tuple made per row.
    by_color: dict[str | None, list[PortfolioRow]] = {color: [] for color in COLOR_ORDER}
    for row in rows:
        by_color.setdefault(row.health_color, []).append(row)
    rows = []
    for same_color in by_color.values():
        same_color.sort(key=attrgetter("slug"))
        same_color.sort(key=attrgetter("mrr"), reverse=True)
        rows += same_color
    return rows


def _availability(known: dict[tuple[int, int], float | None], checks: int,
                  not_down: int) -> float | None:
    """metrics.availability_pct, once per distinct (checks, not down)."""
    key = (checks, not_down)
    if key not in known:
        known[key] = metrics.availability_pct(not_down, checks)
    return known[key]


COLOR_ORDER = {"red": 0, "yellow": 1, "green": 2}  # then the customers without a score
NO_MOVEMENTS = (0.0,) * len(metrics.MOVEMENT_KINDS)  # most rows of a week: shared


def _phases_as_of(connection: Connection, as_of: datetime) -> dict[int, tuple[str | None]]:
    """The phase of each customer whose phase changed at or after `as_of`: the phase its first
    such change replaced (None when that is unknown: the row migration 0006_phase_history
    wrote for customers older than the history). A customer missing here had the phase it has
    now."""

    p = tables.phase_changes.c
    rank = func.row_number().over(partition_by=p.customer_id,
                                  order_by=(p.changed_at.asc(), p.id.asc())).label("rank")
    first = (select(p.customer_id, p.from_phase, rank)
             .where(p.changed_at >= _naive(as_of)).subquery())
    return {row.customer_id: (row.from_phase,) for row in connection.execute(
        select(first.c.customer_id, first.c.from_phase).where(first.c.rank == 1))}


def _health_scores(connection: Connection, settings: Settings,
                   instants: list[datetime]) -> list[dict[int, int | None]]:
    """Each customer's health score as `customer show` computes it (metrics.health_components
    and metrics.health_score over metrics.TECHNICAL_WINDOW of checks and the feedback summary's
    metrics.SUMMARY_WINDOW), with the windows ending just before each of `instants` — for every
    customer at once (_score_windows)."""

    return _scores_and_span(connection, settings, instants, None)[0]


def _score_windows(instants: list[datetime]) -> list[tuple[datetime, datetime]]:
    """The checks' windows of health scores taken at `instants`: metrics.TECHNICAL_WINDOW
    ending just before each (naive UTC)."""
    return [(_naive(instant) - TECHNICAL_WINDOW, _naive(instant)) for instant in instants]


def _scores_and_span(connection: Connection, settings: Settings, instants: list[datetime],
                     span: tuple[datetime, datetime] | None,
                     checks: CheckWindows | None = None,
                     feedback: window_tallies.Found | None = None,
                     newest_installs: list[dict[int, int]] | None = None
                     ) -> tuple[list[dict[int, int | None]], dict[int, tuple[int, ...]]]:
    """_health_scores, and with `span` ([start, end)) each customer's feedback within it
    (responses, answered, score_sum, promoters, detractors: the portfolio's week), read in
    the same pass over the feedback: one read of the checks for every window's counts and
    nearest-rank p95 (check_windows.read_checks; `checks` when the caller read them already,
    the windows of `instants` first, with their p95s), one aggregate over the feedback for all
    the windows (window_tallies.by_customer) and a window function per window for the newest
    install count. `checks` is released (CheckWindows.release) once read; `feedback` is
    _feedback_windows of `instants` and `span`, and `newest_installs` those of `instants`
    (_newest_installs), when the caller has read them (`feedback` is taken over: each window
    is emptied once used)."""

    ends = [_naive(instant) for instant in instants]
    windows = _score_windows(instants)
    if checks is None:
        checks = read_checks(connection, windows, p95_in=range(len(windows)))
    p95 = [checks.p95(i) for i in range(len(windows))]
    checked = [checks.checks_and_not_down(i) for i in range(len(windows))]
    checks.release()  # every figure taken (the caller's first): freed before the scores
    if feedback is None:
        feedback = _feedback_windows(connection, instants, span)
    weights = {"technical": settings.health_score.weight_technical,
               "sentiment": settings.health_score.weight_sentiment,
               "engagement": settings.health_score.weight_engagement}
    targets = settings.targets
    combine, engagement_of = metrics.score_of_components, metrics.engagement_component
    # Each component is taken once per distinct input, not once per customer and window: most
    # customers share their counts (and their p95) with many others. (A component that is None
    # is only taken again.)
    technicals: dict[tuple[Any, float | None], float | None] = {}
    sentiments: dict[tuple[int, ...], float | None] = {}
    scored: dict[tuple[float | None, ...], int | None] = {}  # and each distinct three, once
    results: list[dict[int, int | None]] = []
    for i, end in enumerate(ends):
        installs = (_newest_installs(connection, end) if newest_installs is None
                    else newest_installs[i])
        checked_in, answered_in, latencies = checked[i], feedback[i], p95[i]
        scores: dict[int, int | None] = {}
        for customer_id in checked_in.keys() | answered_in.keys() | installs.keys():
            counts = checked_in.get(customer_id)  # (checks, not down)
            latency = latencies.get(customer_id)
            technical = technicals.get((counts, latency))
            if technical is None:
                technical = technicals[counts, latency] = metrics.technical_component(
                    None if counts is None else metrics.availability_pct(counts[1], counts[0]),
                    latency, targets)
            answers = answered_in.get(customer_id)  # (responses, answered, score_sum, …)
            sentiment = None
            if answers is not None:
                sentiment = sentiments.get(answers)
                if sentiment is None:
                    sentiment = sentiments[answers] = metrics.sentiment_component(
                        metrics.satisfaction_pct(answers[2], answers[0]),
                        metrics.nps(answers[3], answers[4], answers[1]), targets)
            three = (technical, sentiment, engagement_of(installs.get(customer_id)))
            if three not in scored:
                scored[three] = combine(*three, weights)
            scores[customer_id] = scored[three]
        results.append(scores)
        checked[i] = feedback[i] = {}  # the window's counts are no longer needed: freed now
    return results, (feedback[-1] if span is not None else {})


def _feedback_windows(connection: Connection, instants: list[datetime],
                      span: tuple[datetime, datetime] | None) -> window_tallies.Found:
    """Each customer's feedback (responses, answered, score_sum, promoters, detractors) in the
    sentiment window (metrics.SUMMARY_WINDOW) ending just before each of `instants`, then in
    `span` ([start, end)) if given: one aggregate over the feedback (window_tallies)."""
    f = _tables().feedback.c
    spans = [(_naive(instant) - SUMMARY_WINDOW, _naive(instant)) for instant in instants]
    if span is not None:
        spans.append((_naive(span[0]), _naive(span[1])))
    return window_tallies.by_customer(connection, f.received_at, spans, [
        ("count", f.nps), ("sum", f.satisfaction), ("count_where", f.nps >= 9),
        ("count_where", f.nps <= 6)])


def _newest_installs(connection: Connection, end: datetime) -> dict[int, int]:
    """Per customer, the installs of its newest check that measured them, of the checks in
    metrics.TECHNICAL_WINDOW ending just before `end` (naive UTC), maintenance left out."""

    h = _tables().health.c
    where = ((h.checked_at >= end - TECHNICAL_WINDOW) & (h.checked_at < end)
             & (h.status != "maintenance"))
    newest = func.row_number().over(partition_by=h.customer_id,
                                    order_by=(h.checked_at.desc(), h.id.desc()))
    measured = (select(h.customer_id, h.installs, newest.label("rank"))
                .where(where & h.installs.isnot(None)).subquery())
    return dict(connection.execute(
        select(measured.c.customer_id, measured.c.installs)
        .where(measured.c.rank == 1)).all())


def _installs_at(connection: Connection, instants: list[datetime]) -> list[dict[int, int]]:
    """_newest_installs as of each of `instants`."""
    return [_newest_installs(connection, _naive(instant)) for instant in instants]


def _alerts(connection: Connection, week: Week, now: datetime) -> list[AlertRow]:
    """The alerts raised in the week, their delivery and acknowledgement as of its end: an alert
    acknowledged after the week is still pending (or notified) in that week's report."""

    as_of = _naive(_as_of(week, now))

    def then(instant: datetime | None) -> str | None:
        return clock.iso(instant) if instant is not None and instant < as_of else None

    t = _tables()
    a, c = t.alerts.c, t.customers.c
    statement = (select(a.id, c.slug, a.rule, a.text, a.score, a.created_at, a.notified_at,
                        a.acked_at)
                 .join_from(t.alerts, t.customers, a.customer_id == c.id)
                 .where(_in_range(a.created_at, week.start, week.end))
                 .order_by(a.created_at, a.id))
    return [AlertRow(id=row.id, customer=row.slug, rule=row.rule, text=row.text,
                     score=None if row.score is None else float(row.score),
                     created_at=clock.iso(row.created_at), notified_at=then(row.notified_at),
                     acked_at=then(row.acked_at))
            for row in connection.execute(statement)]
