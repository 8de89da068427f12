"""`unmo demo`: a guided tour in a throwaway workspace. It plays a month of a customer-success
team's life through the very services the commands call — the three pilot customers onboarded
from the packaged pilot-customers.yaml, weekly survey exports imported, a call logged, one
customer launched, the sandbox serving the attribution API, health checked every morning — and
ends with the weekly report and its HTML page.

The story is deterministic: every event has its instant, relative to "now" (which honours
UNMO_NOW), and the whole story ends on the last day of the report's week (the last complete
one), so what the demo says about health checks, alerts and feedback is what that report
shows. Health and
the report take the instant as an argument; onboarding, feedback and phase changes read
clock.now(), so they run inside clock.pinned(instant), which pins the clock for this thread
only (the sandbox serving meanwhile in its own thread keeps the real clock, and no environment
variable changes). Nothing of the user's own workspace, database, API or webhook settings is
read or touched: the demo's settings are the defaults, with a SQLite database inside the demo
folder. The service returns what it built; the command renders it (terminal table, HTML page)."""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from unmo_cli import clock
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.services import reports
from unmo_cli.services.customers import set_phase
from unmo_cli.services.feedback import add_feedback, import_feedback
from unmo_cli.services.health import HealthRequest, health_document, run_health
from unmo_cli.services.onboarding import load_customer_file, onboard, slugify
from unmo_cli.services.sandbox import SandboxOptions, start_in_thread
from unmo_cli.services.workspace_admin import init_workspace
from unmo_cli.spreadsheet import csv_text
from unmo_cli.wording import plural
from unmo_cli.workspace import Settings, Workspace, packaged_data_file

if TYPE_CHECKING:
    from unmo_cli.services.health import HealthRun
    from unmo_cli.services.report_figures import WeeklyReport
    from unmo_cli.workspace import Workspace

PILOTS_FILE = "pilot-customers.yaml"
SURVEY_FOLDER = "surveys"
FINAL_CHECKS = 3  # = the default alerts.health_failure_threshold: enough to raise a health alert
# The story ends on the last day of the report's week, six hours before its end: the last survey
# import and the last (degraded) health checks are in the week the report shows.
STORY_ENDS_BEFORE_WEEK_END = timedelta(hours=6)

# The pilots in the file's order: when each was onboarded, relative to the Monday that starts
# the report's week (the last complete one) — three weeks before, two weeks before, inside the
# report's week — and its mood: (satisfaction range, chance of an NPS answer, NPS range).
# The first goes live (launch phase); the second has a bad week: a difficult call, then kafka
# degraded on its API.
ONBOARDED_AT = [timedelta(days=-20, hours=10), timedelta(days=-12, hours=14, minutes=30),
                timedelta(days=1, hours=11)]
MOODS = [((8, 10), 0.8, (8, 10)), ((7, 9), 0.7, (7, 9)), ((8, 10), 0.6, (8, 10))]
LAUNCHED, TROUBLED = 0, 1
COMMENTS = {
    "technical": ["SDK integration went smoothly", "postbacks arrive within seconds",
                  "dashboard numbers match our own BI", "would like raw data export"],
    "business": ["attribution saved us a week of reconciliation", "pricing is clear",
                 "ROAS by campaign is what we needed"],
    "support": ["quick answers in the shared channel", "great onboarding call",
                "docs answered most questions"],
    "other": ["", "all good so far"],
}


@dataclass
class DemoResult:
    """What the demo built: its folder, and what each step produced."""

    root: Path
    created_folder: bool
    workspace: Workspace
    customers: list[str] = field(default_factory=list)
    surveys: list[str] = field(default_factory=list)
    responses: int = 0
    calls: int = 0
    feedback_alerts: int = 0
    health_runs: int = 0
    sandbox_url: str = ""
    health: HealthRun | None = None
    health_alerts: int = 0
    report: WeeklyReport | None = None
    removed: bool = False  # the temporary folder is gone (no --keep)

    @property
    def html(self) -> Path | None:
        """Where the report's HTML page belongs: in the demo folder, named after its week."""
        if self.report is None:
            return None
        return self.root / f"weekly-report-{self.report.week.label}.html"

    def as_json(self) -> dict[str, Any]:
        return {
            "workspace": str(self.root),
            "kept": not self.removed,
            "customers": self.customers,
            "launched": self.customers[LAUNCHED] if self.customers else None,
            "feedback": {"surveys": self.surveys, "responses": self.responses,
                         "calls": self.calls, "alerts": self.feedback_alerts},
            "health": {"runs": self.health_runs, "alerts": self.health_alerts,
                       "latest": health_document(self.health) if self.health else None},
            "report": self.report.as_json() if self.report else None,
            "html": str(self.html) if self.html else None,
        }


# --- the folder ---------------------------------------------------------------------------------


def choose_folder(requested: Path | None) -> tuple[Path, bool]:
    """The demo's folder: a new temporary one, or `requested` if it is new or empty (a folder
    with anything in it might be someone's workspace, so it is refused). Returns (folder,
    whether the demo created it)."""
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="unmo-demo-")).resolve(), True
    folder = requested.expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--dir {str(requested)!r} is a file; the demo needs a new or empty "
                         "folder.")
    if folder.is_dir():
        if any(folder.iterdir()):
            raise InputError(f"--dir {str(requested)!r} is not empty; the demo builds its "
                             "workspace only in a new or empty folder, so it never touches "
                             "yours.")
        return folder, False
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise EnvironmentFailure(f"cannot create the demo folder {folder}: "
                                 f"{exc.strerror}.") from None
    return folder, True


def demo_workspace(root: Path) -> Workspace:
    """The demo's workspace: default settings (no webhook, UTC, the packaged templates) and a
    SQLite database in the folder, whatever UNMO_DATABASE_URL or the user's unmo.yaml say."""

    return Workspace(root=root, settings=Settings(), config_file=root / "unmo.yaml")


# --- the story ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    slug: str
    received_at: datetime
    satisfaction: int
    nps: int | None
    category: str
    comment: str
    external_id: str


def survey_responses(slug: str, onboarded: datetime, until: datetime,
                     mood: tuple[tuple[int, int], float, tuple[int, int]] = MOODS[0]
                     ) -> list[Response]:
    """A pilot's survey answers from two days after onboarding until `until`: one every two to
    three days in office hours, scores from its mood; seeded by the slug, so always the same."""
    rng = random.Random(f"unmo-demo:{slug}")
    (low, high), answer_rate, (nps_low, nps_high) = mood
    day = (onboarded + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    responses = []
    while True:
        at = day + timedelta(hours=rng.randint(9, 17), minutes=rng.randint(0, 59))
        if at >= until:
            return responses
        category = rng.choice(list(COMMENTS))
        responses.append(Response(
            slug=slug, received_at=at, satisfaction=rng.randint(low, high),
            nps=rng.randint(nps_low, nps_high) if rng.random() < answer_rate else None,
            category=category, comment=rng.choice(COMMENTS[category]),
            external_id=f"{slug[:4]}-{at:%Y%m%d%H%M}"))
        day += timedelta(days=rng.choice((2, 3)))


def survey_csv(responses: list[Response]) -> str:
    """A survey tool's export, in the columns `unmo feedback import` reads."""

    return csv_text(["customer", "satisfaction", "nps", "category", "comment", "received_at",
                     "id"],
                    ([r.slug, r.satisfaction, r.nps, r.category, r.comment,
                      clock.iso(r.received_at), r.external_id] for r in responses))


@dataclass(order=True)
class _Event:
    at: datetime
    order: int
    name: str = field(compare=False)
    run: Callable[[datetime], None] = field(compare=False)  # called with `at`


def run_demo(requested: Path | None = None, *,
             note: Callable[[str], None] | None = None) -> DemoResult:
    """Build the demo workspace and play the story in it; see the module docstring. On a
    failure, a folder the demo created is removed again (one it was given is emptied)."""
    root, created = choose_folder(requested)
    try:
        return _play(root, created, note or (lambda _text: None))
    except BaseException:
        _clear(root, created)
        raise


@contextmanager
def demo_session(requested: Path | None = None, *, keep: bool = False,
                 note: Callable[[str], None] | None = None) -> Iterator[DemoResult]:
    """run_demo, for the length of a `with` block (the command renders and prints inside it).
    A temporary folder (no `requested` folder) is removed when the block ends, however it ends
    (an error, Ctrl-C, SIGTERM once the command turned it into an exception), unless `keep`;
    a folder the user named is kept after a success."""
    result = run_demo(requested, note=note)
    try:
        yield result
    except BaseException:
        if requested is None and keep:
            raise
        _clear(result.root, result.created_folder)
        raise
    if requested is None and not keep:
        _clear(result.root, created=True)
        result.removed = True


def _clear(root: Path, created: bool) -> None:
    """Remove a folder the demo created; empty one it was given."""
    if created:
        shutil.rmtree(root, ignore_errors=True)
        return
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _play(root: Path, created: bool, note: Callable[[str], None]) -> DemoResult:
    ws = demo_workspace(root)
    result = DemoResult(root=root, created_folder=created, workspace=ws)
    now = clock.now()
    week = reports.last_complete_week(now, ws.settings.timezone)
    story_end = week.end - STORY_ENDS_BEFORE_WEEK_END
    note(f"Building a throwaway workspace in {root} (your own workspace is not touched).")
    init_workspace(root)

    pilots_file = packaged_data_file(PILOTS_FILE)
    records = load_customer_file(pilots_file)
    slugs = [slugify(str(record.get("name", ""))) for record in records]
    # A longer file than the three pilots: the others come one day apart after the third.
    onboarded = {slug: week.start + ONBOARDED_AT[min(n, 2)] + timedelta(days=max(0, n - 2))
                 for n, slug in enumerate(slugs)}
    events: list[_Event] = []

    def add(at: datetime, name: str, run: Callable[[datetime], None]) -> None:
        events.append(_Event(at, len(events), name, run))

    for record, slug in zip(records, slugs, strict=True):
        def do_onboard(at: datetime, record: dict[str, Any] = record) -> None:
            with clock.pinned(at):
                done = onboard(ws, record, mode="batch")
            result.customers.append(done.customer["slug"])

        add(onboarded[slug], f"onboard {slug}", do_onboard)

    # The survey tool exports the past week every Monday at 08:00 and a cron job imports it;
    # what came in since the last Monday is imported by a last run at the story's end.
    responses = sorted((r for n, (slug, at) in enumerate(onboarded.items())
                        for r in survey_responses(slug, at, story_end - timedelta(hours=1),
                                                  MOODS[min(n, len(MOODS) - 1)])),
                       key=lambda r: r.received_at)
    import_times = [week.start + timedelta(weeks=n, hours=8) for n in range(-2, 2)]
    import_times = [t for t in import_times if t < story_end] + [story_end]
    taken = 0
    for at in import_times:
        batch = [r for r in responses[taken:] if r.received_at < at]
        taken += len(batch)
        if batch:
            add(at, "survey import", lambda at, batch=batch: _import_survey(ws, result, batch,
                                                                              at))
    # A success engineer logs a difficult call with the troubled pilot in the report's week.
    call_at = week.start + timedelta(days=3, hours=15)
    add(call_at, "call", lambda at: _log_call(ws, result, slugs[TROUBLED], at))
    # The first pilot goes live on both stores: the launch phase, so health also asks the API
    # for its installs.
    add(week.start + timedelta(days=2, hours=9), "launch",
        lambda at: _launch(ws, slugs[LAUNCHED], at))

    # Health every morning for the last two weeks or so, against the sandbox, all healthy; then
    # the last few checks, minutes apart, with the troubled pilot's kafka degraded.
    stop_sandbox = None
    try:
        url, stop_sandbox = start_in_thread(SandboxOptions(port=0, key_refresh_s=0),
                                            workspace=ws)
        result.sandbox_url = url
        checking = replace(ws, settings=replace(ws.settings, api=replace(ws.settings.api,
                                                                         base_url=url)))
        # From the Monday of the week before the report's, so both weeks of the report's
        # week-over-week columns have checks.
        first_morning = week.start - timedelta(days=7) + timedelta(hours=9)
        finals = [story_end - timedelta(minutes=5 * n)
                  for n in range(FINAL_CHECKS - 1, -1, -1)]
        morning = first_morning
        while morning < finals[0]:
            if morning > min(onboarded.values()):
                add(morning, "health", lambda at: _check(checking, result, at))
            morning += timedelta(days=1)

        events.sort()
        note(f"Onboarding the {plural(len(records), 'pilot customer')} from "
             f"{pilots_file.name}, importing weekly survey exports and checking health every "
             f"morning until {_when(story_end, ws)}, in the report's week {week.label} …")
        for event in events:
            event.run(event.at)
        note(f"Onboarded {', '.join(result.customers)}; {slugs[LAUNCHED]} is in the launch "
             "phase.")
        note(f"Imported {plural(len(result.surveys), 'survey export')} "
             f"({plural(result.responses, 'response')}) and logged "
             f"{plural(result.calls, 'call')}; "
             f"{plural(result.feedback_alerts, 'feedback alert')} raised.")
        stop_sandbox()
        stop_sandbox = None

        url, stop_sandbox = start_in_thread(
            SandboxOptions(port=0, key_refresh_s=0, scenarios={slugs[TROUBLED]: "degraded"}),
            workspace=ws)
        result.sandbox_url = url
        checking = replace(checking, settings=replace(
            checking.settings, api=replace(checking.settings.api, base_url=url)))
        for at in finals:
            _check(checking, result, at)
        assert result.health is not None
        last = "; ".join(f"{r.customer} {r.status}"
                         + (f" ({', '.join(r.unhealthy_services)} unhealthy)"
                            if r.unhealthy_services else "") for r in result.health.results)
        note(f"Sandbox served the attribution API at {url}: "
             f"{plural(result.health_runs, 'health run')} recorded up to "
             f"{_when(story_end, ws)}, the last one: {last}; "
             f"{plural(result.health_alerts, 'health alert')} raised.")
    finally:
        if stop_sandbox is not None:
            stop_sandbox()

    result.report = reports.weekly_report(workspace=ws, now=now)
    return result


def _when(instant: datetime, ws: Workspace) -> str:
    local = instant.astimezone(ZoneInfo(ws.settings.timezone))
    return f"{local:%a} {local.day} {local:%b} {local:%H:%M}"


def _import_survey(ws: Workspace, result: DemoResult, batch: list[Response],
                   at: datetime) -> None:
    folder = ws.root / SURVEY_FOLDER
    folder.mkdir(exist_ok=True)
    path = folder / f"survey-export-{at:%Y-%m-%d-%H%M}.csv"
    path.write_text(survey_csv(batch), encoding="utf-8")
    with clock.pinned(at):
        imported = import_feedback(ws, path)
    result.surveys.append(ws.relative(path))
    result.responses += imported.imported
    result.feedback_alerts += len(imported.alerts)


def _log_call(ws: Workspace, result: DemoResult, slug: str, at: datetime) -> None:
    with clock.pinned(at):
        added = add_feedback(ws, slug, satisfaction=5, nps=4, category="technical",
                             comment="Server-to-server postbacks were six hours late on "
                                     "Tuesday; their campaign report was wrong for a day.")
    result.calls += 1
    result.feedback_alerts += len(added.alerts)


def _launch(ws: Workspace, slug: str, at: datetime) -> None:
    with clock.pinned(at):
        set_phase(ws, slug, "launch")


def _check(ws: Workspace, result: DemoResult, at: datetime) -> None:
    run = run_health(HealthRequest(all_customers=True, retries=0), workspace=ws, now=at)
    result.health = run
    result.health_runs += 1
    result.health_alerts += len(run.alerts)
