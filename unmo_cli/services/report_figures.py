"""The weekly and monthly reports' figures (services/reports.py computes them): one frozen
dataclass per block of the report, the portfolio's and the alerts' rows, the trends, and the
report's JSON document as the contract (docs/cli.md) spells it — money as exact decimal strings
(unmo_cli.money), the portfolio written row by row (json_output.JsonRows)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from unmo_cli import clock, json_output, metrics, money
from unmo_cli.services.report_ledger import TaskFigures

if TYPE_CHECKING:
    from unmo_cli.services.periods import Period
    from unmo_cli.services.sla import SlaRow


@dataclass(frozen=True)
class CustomerFigures:
    total: int
    active: int
    new: int
    churned: int


@dataclass(frozen=True)
class MrrFigures:
    """MRR at the period's end and start, and the movements between (in dollars):
    current = previous + new + expansion − contraction − churned + reactivation."""

    current: float
    previous: float
    delta: float
    new: float = 0.0
    expansion: float = 0.0
    contraction: float = 0.0
    churned: float = 0.0
    reactivation: float = 0.0


@dataclass(frozen=True)
class RetentionFigures:
    """Revenue retention of the customers active at the period's start (metrics.retention)."""

    start: float = 0.0
    nrr_pct: float | None = None
    grr_pct: float | None = None
    logo_pct: float | None = None
    cohort: int = 0
    retained: int = 0

    @classmethod
    def of(cls, kept: metrics.Retention) -> RetentionFigures:
        return cls(metrics.cents_to_dollars(kept.start) or 0.0, kept.nrr_pct, kept.grr_pct,
                   kept.logo_pct, kept.cohort, kept.retained)


@dataclass(frozen=True)
class OnboardingFigures:
    count: int
    mean_s: float | None
    median_s: float | None
    p95_s: float | None
    target_s: float
    met: bool | None
    # The same durations in milliseconds with three decimals: the `_s` fields keep their tenth
    # of a second (the contract's), which reads 0.13 s as 0.1.
    mean_ms: float | None = None
    median_ms: float | None = None
    p95_ms: float | None = None


@dataclass(frozen=True)
class SatisfactionFigures:
    responses: int
    pct: float | None
    nps: int | None
    promoters: int
    passives: int
    detractors: int
    target_pct: float
    met: bool | None


@dataclass(frozen=True)
class HealthFigures:
    checks: int
    availability_pct: float | None
    healthy_pct: float | None
    p95_latency_ms: float | None


@dataclass(frozen=True)
class FinanceFigures:
    revenue_week: float
    infra_cost_week: float
    gross_margin_pct: float | None
    cost_per_1k_events: float | None


@dataclass(frozen=True)
class SurveyFigures:
    """Survey links e-mailed within the week and how many of those were answered by its end."""

    sent: int = 0
    answered: int = 0
    response_rate_pct: float | None = None


@dataclass(frozen=True)
class WeekFigures:
    """The headline figures of one week or month (the report's, and the one before it)."""

    week: Period
    customers: CustomerFigures
    mrr: MrrFigures
    onboarding: OnboardingFigures
    satisfaction: SatisfactionFigures
    health: HealthFigures
    finance: FinanceFigures
    surveys: SurveyFigures = field(default_factory=SurveyFigures)
    retention: RetentionFigures = field(default_factory=RetentionFigures)
    tasks: TaskFigures = field(default_factory=TaskFigures)

    def as_json(self) -> dict[str, Any]:
        return {
            self.week.noun: self.week.label,
            "start": clock.iso(self.week.start),
            "end": clock.iso(self.week.end),
            "customers": asdict(self.customers),
            "mrr": asdict(self.mrr),
            "onboarding": asdict(self.onboarding),
            "satisfaction": asdict(self.satisfaction),
            "health": asdict(self.health),
            "finance": asdict(self.finance),
            "surveys": asdict(self.surveys),
            "retention": asdict(self.retention),
            "tasks": asdict(self.tasks),
        }


@dataclass(frozen=True)
class TargetRow:
    metric: str  # the setting's name under targets.*
    label: str
    unit: str
    target: float | int
    achieved: float | int | None
    met: bool | None


@dataclass(slots=True)  # slots, not frozen: one per customer, made cheaply (100,000 at once)
class PortfolioRow:
    slug: str
    name: str
    industry: str
    integration: str
    platforms: tuple[str, ...]
    provider: str
    events_per_day: int
    mrr: float
    phase: str | None  # None: unknown (a week before the phase history began)
    new: bool  # created within the week
    created_at: str | None
    churned_at: str | None
    responses: int
    satisfaction_pct: float | None
    nps: int | None
    health_checks: int
    availability_pct: float | None
    health_status: str | None  # the status of the customer's last check of the week
    # The health score of `customer show` (0-100) and its colour as of the week's end, and its
    # change since the end of the week before (None where either has no score).
    health_score: int | None = None
    health_color: str | None = None
    health_score_change: int | None = None
    # From the MRR ledger: the MRR in effect at the period's start and end (0 while churned)
    # and the period's movements, in dollars (metrics.mrr_movements).
    mrr_start: float = 0.0
    mrr_end: float = 0.0
    movements: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    # The survey response rate (the contract's `surveys`) of this customer's invitations.
    surveys_sent: int = 0
    surveys_answered: int = 0
    survey_response_rate_pct: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The row in the JSON document: its fields in order, the MRR as an exact decimal
        string (unmo_cli.money), as every command writes money for machines."""
        text = _money_text
        new, expansion, contraction, churned, reactivation = _movement_texts(self.movements)
        return {"slug": self.slug, "name": self.name, "industry": self.industry,
                "integration": self.integration, "platforms": list(self.platforms),
                "provider": self.provider, "events_per_day": self.events_per_day,
                "mrr": text(self.mrr), "phase": self.phase,
                "new": self.new, "created_at": self.created_at, "churned_at": self.churned_at,
                "responses": self.responses, "satisfaction_pct": self.satisfaction_pct,
                "nps": self.nps, "health_checks": self.health_checks,
                "availability_pct": self.availability_pct, "health_status": self.health_status,
                "health_score": self.health_score, "health_color": self.health_color,
                "health_score_change": self.health_score_change,
                "mrr_start": text(self.mrr_start),
                "mrr_end": text(self.mrr_end),
                # metrics.MOVEMENT_KINDS, in its order
                "mrr_new": new, "mrr_expansion": expansion, "mrr_contraction": contraction,
                "mrr_churned": churned, "mrr_reactivation": reactivation,
                "surveys_sent": self.surveys_sent, "surveys_answered": self.surveys_answered,
                "survey_response_rate_pct": self.survey_response_rate_pct}

    def json_text(self) -> str:
        """as_json()'s object as compact JSON text, made without the dict (json_output.JsonRows:
        most of the weekly report's writing at 100,000 customers). Keys and order as as_json's:
        tests/test_json_output.py holds the two to the same bytes."""
        string, number, money = json_output.optional_string, json_output.number, _money_json
        new, expansion, contraction, churned, reactivation = _movements_json(self.movements)
        return (f'{{"slug":{string(self.slug)},"name":{string(self.name)},'
                f'"industry":{string(self.industry)},'
                f'"integration":{string(self.integration)},'
                f'"platforms":{json_output.strings(self.platforms)},'
                f'"provider":{string(self.provider)},'
                f'"events_per_day":{number(self.events_per_day)},'
                f'"mrr":{money(self.mrr)},"phase":{string(self.phase)},'
                f'"new":{json_output.boolean(self.new)},'
                f'"created_at":{string(self.created_at)},'
                f'"churned_at":{string(self.churned_at)},'
                f'"responses":{number(self.responses)},'
                f'"satisfaction_pct":{number(self.satisfaction_pct)},"nps":{number(self.nps)},'
                f'"health_checks":{number(self.health_checks)},'
                f'"availability_pct":{number(self.availability_pct)},'
                f'"health_status":{string(self.health_status)},'
                f'"health_score":{number(self.health_score)},'
                f'"health_color":{string(self.health_color)},'
                f'"health_score_change":{number(self.health_score_change)},'
                f'"mrr_start":{money(self.mrr_start)},"mrr_end":{money(self.mrr_end)},'
                f'"mrr_new":{new},"mrr_expansion":{expansion},"mrr_contraction":{contraction},'
                f'"mrr_churned":{churned},"mrr_reactivation":{reactivation},'
                f'"surveys_sent":{number(self.surveys_sent)},'
                f'"surveys_answered":{number(self.surveys_answered)},'
                f'"survey_response_rate_pct":{number(self.survey_response_rate_pct)}}}')


# money.dollars_for_machines, remembered: most of a portfolio row's eight amounts are the same
# few values (0.00 movements) across 100,000 rows. Equal floats give the same text (0.0, -0.0).
_money_text = lru_cache(maxsize=1 << 14)(money.dollars_for_machines)


@lru_cache(maxsize=1 << 14)
def _money_json(dollars: float) -> str:
    """An amount as json_text writes it: as_json's money text, as JSON (`"2500.00"`), remembered
    as _money_text is (a hit is one look-up, not three calls)."""
    return json_output.optional_string(money.dollars_for_machines(dollars))


@lru_cache(maxsize=1 << 10)
def _movement_texts(movements: tuple[float, ...]) -> tuple[str | None, ...]:
    """A row's movements as money text: most rows share NO_MOVEMENTS, so mostly one look-up."""
    return tuple(map(_money_text, movements))


@lru_cache(maxsize=1 << 10)
def _movements_json(movements: tuple[float, ...]) -> tuple[str, ...]:
    """_movement_texts as json_text writes them."""
    return tuple(map(_money_json, movements))


@dataclass(frozen=True)
class AlertRow:
    id: int
    customer: str
    rule: str
    text: str
    score: float | None
    created_at: str | None
    notified_at: str | None
    acked_at: str | None


@dataclass(frozen=True)
class Trends:
    """The last TREND_WEEKS weeks up to the report's, oldest first; None where a week has no
    data (a gap in the chart, never a zero)."""

    weeks: list[str]
    satisfaction_pct: list[float | None]
    nps: list[int | None]
    mrr: list[float]
    onboarding_mean_s: list[float | None]
    onboarding_mean_ms: list[float | None] = field(default_factory=list)
    # The MRR movements of each period (dollars), for the HTML page's movements chart.
    mrr_new: list[float] = field(default_factory=list)
    mrr_expansion: list[float] = field(default_factory=list)
    mrr_contraction: list[float] = field(default_factory=list)
    mrr_churned: list[float] = field(default_factory=list)
    mrr_reactivation: list[float] = field(default_factory=list)


# The headline figures compared week over week, by section.
CHANGE_FIELDS: dict[str, tuple[str, ...]] = {
    "customers": ("total", "active", "new", "churned"),
    "mrr": ("current", "new", "expansion", "contraction", "churned", "reactivation"),
    "retention": ("start", "nrr_pct", "grr_pct", "logo_pct", "cohort", "retained"),
    "tasks": ("open", "overdue", "done"),
    "onboarding": ("count", "mean_s", "median_s", "p95_s", "mean_ms", "median_ms", "p95_ms"),
    "satisfaction": ("responses", "pct", "nps"),
    "health": ("checks", "availability_pct", "healthy_pct", "p95_latency_ms"),
    "finance": ("revenue_week", "gross_margin_pct", "cost_per_1k_events"),
    "surveys": ("sent", "answered", "response_rate_pct"),
}


@dataclass(frozen=True)
class WeeklyReport:
    timezone: str
    complete: bool  # False for the week still in progress
    current: WeekFigures
    previous: WeekFigures
    targets: list[TargetRow]
    portfolio: list[PortfolioRow]
    alerts: list[AlertRow]
    trends: Trends
    change: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    # The customers at risk of breaching their SLA in the month the week ends in (services/sla.py).
    # (SlaRow objects, made into the JSON's objects one at a time as they are written: at
    # 100,000 customers most of them can be at risk, and their dicts would hold ~80 MB at once.)
    sla_at_risk: list[SlaRow] = field(default_factory=list)

    @property
    def week(self) -> Period:
        return self.current.week

    def as_json(self) -> dict[str, Any]:
        """The contract's document; `timezone`, `complete`, `previous`, `change` and `trends`
        (and the extra fields of targets, portfolio rows and alerts) are additions."""
        document = self.json_document()
        document["portfolio"] = list(document["portfolio"])
        document["sla_at_risk"] = list(document["sla_at_risk"])
        return document

    def json_document(self) -> dict[str, Any]:
        """as_json with the portfolio and sla_at_risk as json_output.JsonRows, iterators that make
        each row's object as it is read: a writer that streams them (console.emit_json) never
        holds the 100,000 objects, or their text, at once, and writes each row's own text."""
        document = self.current.as_json()
        noun = self.week.noun
        document = {noun: document.pop(noun), "start": document.pop("start"),
                    "end": document.pop("end"), "timezone": self.timezone,
                    "complete": self.complete, **document}
        document["targets"] = [asdict(row) for row in self.targets]
        document["portfolio"] = json_output.JsonRows(self.portfolio)
        # vars() rather than asdict(): asdict deep-copies; these rows hold only scalars.
        document["alerts"] = [dict(vars(row)) for row in self.alerts]
        document["previous"] = self.previous.as_json()
        document["change"] = {section: dict(values) for section, values in self.change.items()}
        document["trends"] = asdict(self.trends)
        if noun != "week":
            document["trends"] = {(f"{noun}s" if name == "weeks" else name): values
                                  for name, values in document["trends"].items()}
        document["sla_at_risk"] = json_output.JsonRows(self.sla_at_risk)
        _money_for_machines(document)
        return document


def _money_for_machines(document: dict[str, Any]) -> None:
    """Amounts of money in the JSON document as exact decimal strings ("10200.50"), as every
    command writes money for machines (unmo_cli.money); rates (cost per 1,000 events) and
    percentages stay numbers. (The portfolio's rows do theirs: PortfolioRow.as_json.)"""
    text = money.dollars_for_machines
    for week in (document, document["previous"]):
        week["mrr"] = {name: text(value) for name, value in week["mrr"].items()}
        week["retention"]["start"] = text(week["retention"]["start"])
        for name in ("revenue_week", "infra_cost_week"):
            week["finance"][name] = text(week["finance"][name])
    change = document["change"]
    if "mrr" in change:
        change["mrr"] = {name: text(value) for name, value in change["mrr"].items()}
    if "retention" in change:
        change["retention"]["start"] = text(change["retention"]["start"])
    if "revenue_week" in change.get("finance", {}):
        change["finance"]["revenue_week"] = text(change["finance"]["revenue_week"])
    for row in document["targets"]:
        if row["metric"] == "mrr":
            row["target"], row["achieved"] = text(row["target"]), text(row["achieved"])
    for name in ("mrr", *(f"mrr_{kind}" for kind in metrics.MOVEMENT_KINDS)):
        document["trends"][name] = [text(value) for value in document["trends"][name]]
