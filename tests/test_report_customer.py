"""`unmo report customer SLUG`: the quarterly business review of a scripted quarter (2026-Q3 in
New York: 1 Jul 2026 00:00 EDT = 04:00Z up to 1 Oct 2026 04:00Z), every figure worked out by hand
below, through the real CLI; history effective after the quarter does not leak in; the three
formats; bad input is exit 2 and writes nothing; reading creates nothing."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from datetime import date, datetime
from pathlib import Path

import pytest
from support_ci import skip_or_fail

ZONE = "America/New_York"
AFTER = "2026-10-20T12:00:00Z"  # "now" for the review: Q3 is complete, Q4 in progress
SLUG = "acme-games"
HOSTILE_NOTE = ("<script>alert(1)</script> **bold** [x](https://evil.example) ops@evil.example "
                "a|b")

# (UNMO_NOW, args): the account's history, run in the order it happened.
HISTORY = [
    ("2026-06-15T12:00:00Z", ("onboard", "Acme Games", "--contact-name", "Ann Lee",
                              "--contact-email", "ann@acme.example", "--industry", "gaming",
                              "--integration", "s2s", "--events-per-day", "1000", "--provider",
                              "adjust", "--mrr", "2000", "--yes")),
    # Before the quarter: 1 Jul 03:00Z is 30 Jun 23:00 in New York. Two alerts (Q2).
    ("2026-07-01T03:00:00Z", ("feedback", "add", SLUG, "-s", "1", "--nps", "0")),
    # The quarter's first instant: W27 (cut: Wed 1 Jul to Mon 6 Jul 04:00Z).
    ("2026-07-01T04:00:00Z", ("feedback", "add", SLUG, "-s", "10", "--nps", "9")),
    ("2026-07-07T12:00:00Z", ("feedback", "add", SLUG, "-s", "9", "--nps", "10")),  # W28
    ("2026-07-08T12:00:00Z", ("feedback", "add", SLUG, "-s", "6", "--nps", "5")),   # W28, alerts
    ("2026-07-09T12:00:00Z", ("customer", "set", SLUG, "--mrr", "2500", "--effective",
                              "2026-07-09")),          # expansion $500, 9 Jul 04:00Z
    ("2026-08-01T12:00:00Z", ("customer", "set", SLUG, "--tier", "enterprise", "--effective",
                              "2026-08-01")),
    ("2026-08-20T12:00:00Z", ("customer", "set", SLUG, "--mrr", "2200")),  # contraction $300
    ("2026-09-01T12:00:00Z", ("feedback", "add", SLUG, "-s", "8", "--nps", "7")),   # W36
    ("2026-09-10T12:00:00Z", ("customer", "churn", SLUG, "--reason", "budget freeze")),
    ("2026-09-20T12:00:00Z", ("customer", "reactivate", SLUG, "--mrr", "1800")),
    # After the quarter: none of this is in the Q3 review.
    ("2026-10-01T04:00:00Z", ("feedback", "add", SLUG, "-s", "2")),
    ("2026-10-03T12:00:00Z", ("customer", "set", SLUG, "--success-manager", "sam@unmo.example",
                              "--tier", "strategic")),
    ("2026-10-05T12:00:00Z", ("customer", "set", SLUG, "--mrr", "4000")),
    ("2026-10-06T12:00:00Z", ("customer", "phase", SLUG, "launch")),
]

# customer, checked_at (naive UTC), status, latency
CHECKS = [
    ("2026-06-30T10:00:00", "down", None),         # Q2
    ("2026-07-07T10:00:00", "healthy", 100.0),     # W28
    ("2026-07-08T10:00:00", "down", None),         # W28
    ("2026-07-09T10:00:00", "healthy", 300.0),     # W28
    ("2026-07-10T10:00:00", "degraded", 200.0),    # W28
    ("2026-09-30T10:00:00", "healthy", 50.0),      # W40 (cut: Mon 28 Sep to Thu 1 Oct 04:00Z)
    ("2026-10-01T05:00:00", "down", None),         # Q4
]
# title, created_at, done_at
TASKS = [
    ("Kick-off call", "2026-06-20T12:00:00", "2026-07-15T12:00:00"),    # done in Q3
    ("Old chore", "2026-06-01T12:00:00", "2026-06-25T12:00:00"),        # done in Q2: neither
    ("Renewal deck", "2026-08-01T12:00:00", "2026-10-05T12:00:00"),     # done later: open then
    ("Check SDK", "2026-09-01T12:00:00", None),                         # open
    ("Q4 plan", "2026-10-02T12:00:00", None),                           # created later: neither
]
# at, text
NOTES = [
    ("2026-06-30T12:00:00", "before the quarter"),
    ("2026-07-02T15:00:00", HOSTILE_NOTE),
    ("2026-10-02T12:00:00", "after the quarter"),
]


def _write_checks_tasks_notes() -> None:
    from sqlmodel import select

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer, HealthCheck, Note, Task
    from unmo_cli.workspace import load_workspace

    def naive(text: str) -> datetime:
        return datetime.fromisoformat(text)

    db = open_database(load_workspace())
    try:
        with db.session() as session:
            customer = session.exec(select(Customer).where(Customer.slug == SLUG)).one()
            for checked, status, latency in CHECKS:
                session.add(HealthCheck(customer_id=customer.id, checked_at=naive(checked),
                                        status=status, latency_ms=latency))
            for title, created, done in TASKS:
                session.add(Task(customer_id=customer.id, title=title, owner="sam@unmo.example",
                                 due_on=date(2026, 12, 1), status="done" if done else "open",
                                 created_at=naive(created), updated_at=naive(done or created),
                                 done_at=naive(done) if done else None,
                                 done_note="went well" if done else None))
            for at, text in NOTES:
                session.add(Note(customer_id=customer.id, at=naive(at), text=text,
                                 author="sam@unmo.example", recorded_at=naive(at)))
    finally:
        db.dispose()


def _build_quarter(unmo) -> None:
    from unmo_cli.workspace import load_workspace

    (load_workspace().root / "unmo.yaml").write_text(f"timezone: {ZONE}\n")
    for now, args in HISTORY:
        ran = unmo(*args, env={"UNMO_NOW": now})
        assert ran.exit_code == 0, (args, ran.stderr)
    alerts = unmo("alerts", "list", "--json").json()
    in_q3 = [a["id"] for a in alerts if a["created_at"] == "2026-07-08T12:00:00Z"]
    assert len(in_q3) == 2, alerts
    # One acknowledged within the quarter, the other after it (still open in the Q3 review).
    assert unmo("alerts", "ack", str(in_q3[0]), env={"UNMO_NOW": "2026-07-09T12:00:00Z"}
                ).exit_code == 0
    assert unmo("alerts", "ack", str(in_q3[1]), env={"UNMO_NOW": "2026-10-02T12:00:00Z"}
                ).exit_code == 0
    _write_checks_tasks_notes()


@pytest.fixture
def quarter(module_workspaces, workspace: Path) -> None:
    module_workspaces.copy(_build_quarter, workspace)


def review(unmo, *args: str, now: str = AFTER) -> dict:
    ran = unmo("report", "customer", SLUG, *args, "--json", env={"UNMO_NOW": now})
    assert ran.exit_code == 0, ran.stderr
    return ran.json()


def test_the_quarter_by_hand(unmo, quarter):
    doc = review(unmo)  # the default: the last complete quarter
    assert (doc["quarter"], doc["start"], doc["end"], doc["timezone"], doc["complete"]) == (
        "2026-Q3", "2026-07-01T04:00:00Z", "2026-10-01T04:00:00Z", ZONE, True)
    assert doc["as_of"] == doc["end"]
    # MRR: $2,000 in effect at the start; +500 (9 Jul), −300 (20 Aug), churned $2,200 (10 Sep),
    # reactivated at $1,800 (20 Sep): 2000 + 500 − 300 − 2200 + 1800 = 1800. The $4,000 of 5 Oct
    # is later.
    mrr = doc["mrr"]
    assert {k: mrr[k] for k in ("start", "end", "change", "new", "expansion", "contraction",
                                "churned", "reactivation")} == {
        "start": "2000.00", "end": "1800.00", "change": "-200.00", "new": "0.00",
        "expansion": "500.00", "contraction": "300.00", "churned": "2200.00",
        "reactivation": "1800.00"}
    assert [(m["movement"], m["amount"], m["mrr"]) for m in mrr["movements"]] == [
        ("expansion", "500.00", "2500.00"), ("contraction", "300.00", "2200.00"),
        ("churned", "2200.00", "0.00"), ("reactivation", "1800.00", "1800.00")]
    assert mrr["movements"][0]["effective_at"] == "2026-07-09T04:00:00Z"
    assert mrr["movements"][2]["reason"] == "budget freeze"
    # Weeks W27..W40, the first and the last cut at the quarter's edges.
    weeks = {w["week"]: w for w in doc["weeks"]}
    assert list(weeks) == [f"2026-W{n}" for n in range(27, 41)]
    assert (weeks["2026-W27"]["start"], weeks["2026-W40"]["end"]) == (doc["start"], doc["end"])
    # W27: only the response at the first instant (the one an hour before is Q2): 100.0%, +100.
    assert (weeks["2026-W27"]["responses"], weeks["2026-W27"]["satisfaction_pct"],
            weeks["2026-W27"]["nps"]) == (1, 100.0, 100)
    # W28: 9 and 6 → 75.0%; one promoter, one detractor → NPS 0. Checks: 4, one down → 75.0%;
    # latencies 100, 200, 300 → nearest-rank p95 is rank ⌈2.85⌉ = 3: 300 ms.
    w28 = weeks["2026-W28"]
    assert (w28["responses"], w28["satisfaction_pct"], w28["nps"], w28["checks"],
            w28["availability_pct"], w28["p95_latency_ms"]) == (2, 75.0, 0, 4, 75.0, 300.0)
    assert (weeks["2026-W36"]["satisfaction_pct"], weeks["2026-W36"]["nps"]) == (80.0, 0)
    w40 = weeks["2026-W40"]  # the check of 1 Oct 05:00Z is Q4
    assert (w40["checks"], w40["availability_pct"], w40["p95_latency_ms"], w40["responses"]) == (
        1, 100.0, 50.0, 0)
    assert weeks["2026-W30"]["satisfaction_pct"] is None and weeks["2026-W30"]["checks"] == 0
    weekly_mrr = {w["week"]: w["mrr"] for w in mrr["weekly"]}
    assert (weekly_mrr["2026-W27"], weekly_mrr["2026-W28"], weekly_mrr["2026-W37"],
            weekly_mrr["2026-W38"], weekly_mrr["2026-W40"]) == (
        "2000.00", "2500.00", "0.00", "1800.00", "1800.00")


def test_the_record_is_the_one_in_effect_at_the_quarters_end(unmo, quarter):
    customer = review(unmo)["customer"]
    # tier set in August; the success manager, the strategic tier, $4,000 and the launch phase
    # came in October.
    assert (customer["tier"], customer["success_manager"], customer["mrr"],
            customer["phase"]) == ("enterprise", None, "1800.00", "setup")
    assert customer["churned_at"] is None  # reactivated within the quarter
    now = unmo("customer", "show", SLUG, "--json", env={"UNMO_NOW": AFTER}).json()["customer"]
    assert (now["tier"], now["mrr"], now["phase"]) == ("strategic", "4000.00", "launch")


def test_health_score_at_the_start_and_end_is_what_customer_show_said(unmo, quarter):
    health = review(unmo)["health"]
    for key, instant in (("start", "2026-07-01T03:59:59Z"), ("end", "2026-10-01T03:59:59Z")):
        shown = unmo("customer", "show", SLUG, "--json", env={"UNMO_NOW": instant}).json()
        assert health[key]["score"] == shown["health"]["score"] is not None
        assert health[key]["color"] == shown["health"]["color"]
    assert health["change"] == health["end"]["score"] - health["start"]["score"]


def test_alerts_tasks_and_notes_of_the_quarter(unmo, quarter):
    doc = review(unmo)
    alerts = doc["alerts"]
    assert [a["created_at"] for a in alerts] == ["2026-07-08T12:00:00Z"] * 2
    assert [a["acked_at"] for a in alerts] == ["2026-07-09T12:00:00Z", None]  # acked later
    assert [t["title"] for t in doc["tasks"]["done"]] == ["Kick-off call"]
    assert doc["tasks"]["done"][0]["done_at"] == "2026-07-15T12:00:00Z"
    assert [t["title"] for t in doc["tasks"]["open"]] == ["Renewal deck", "Check SDK"]
    assert all(t["done_at"] is None for t in doc["tasks"]["open"])
    assert [n["text"] for n in doc["notes"]] == [HOSTILE_NOTE]


def test_a_quarter_in_progress_is_marked_and_stops_at_now(unmo, quarter):
    doc = review(unmo, "--quarter", "2026-q4")
    assert (doc["quarter"], doc["complete"], doc["as_of"]) == ("2026-Q4", False, AFTER)
    assert doc["mrr"]["start"] == "1800.00" and doc["mrr"]["end"] == "4000.00"
    assert [w["week"] for w in doc["weeks"]][-1] == "2026-W43"  # 20 Oct is in W43
    assert doc["customer"]["phase"] == "launch" and doc["customer"]["tier"] == "strategic"


def test_markdown_escapes_peoples_text_and_reads_the_figures(unmo, quarter):
    from test_report_markdown import _render_github

    ran = unmo("report", "customer", SLUG, env={"UNMO_NOW": AFTER})  # markdown by default
    assert ran.exit_code == 0, ran.stderr
    text = ran.stdout
    assert text.startswith("# Acme Games: Quarterly Business Review 2026-Q3")
    assert "$2,000.00 at the start, $1,800.00 at the end (−$200.00)" in text
    assert "| 2026-W28 | 2 | 75.0% | 0 | 4 | 75.0% | 300 ms | $2,500.00 |" in text
    page = _render_github(text)
    assert not {"script", "a", "img"} & set(page.tags)
    assert page.tags.count("strong") == 1  # the template's own, under the title
    assert any(HOSTILE_NOTE.replace("\\", "") in item.replace("\u2060", "")
               for item in page.items), page.items


def test_html_is_self_contained_with_charts_and_escapes(unmo, quarter, workspace: Path):
    out = workspace / "q3.html"
    ran = unmo("report", "customer", SLUG, "--format", "html", "--output", str(out),
               env={"UNMO_NOW": AFTER})
    assert ran.exit_code == 0 and ran.stdout == ""
    html = out.read_text()
    assert html.count("<svg") == 5 and "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html.replace("https://evil.example", "")


@pytest.mark.slow
def test_html_renders_in_headless_chromium(unmo, quarter, workspace: Path):
    browser = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if browser is None:
        skip_or_fail("chromium is not installed (.ci/run installs the Debian package)")
    page = workspace / "q3.html"
    assert unmo("report", "customer", SLUG, "-f", "html", "-o", str(page),
                env={"UNMO_NOW": AFTER}).exit_code == 0
    shot = workspace / "q3.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", f"--screenshot={shot}",
             "--window-size=1200,2000", page.as_uri()],
            capture_output=True, timeout=120, check=False)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1200, 2000)
    assert len(data) > 50_000, "the screenshot is nearly blank"


@pytest.mark.parametrize(("args", "says"), [
    (("--quarter", "2026-Q5"), "quarters Q1 to Q4"),
    (("--quarter", "next"), "is not a quarter"),
    (("--quarter", "2027-Q1"), "has not started yet"),
    (("--quarter", "2026-Q1"), "ended before acme-games existed"),
    (("--format", "csv"), "--format"),
    (("--json", "--format", "html"), "two formats"),
])
def test_bad_input_is_exit_2_and_writes_nothing(unmo, quarter, unchanged, workspace, args,
                                                 says):
    out = workspace / "never.md"
    ran = unmo("report", "customer", SLUG, *args, "--output", str(out),
               env={"UNMO_NOW": AFTER})
    assert ran.exit_code == 2, ran.stdout
    assert says in ran.stderr and "Traceback" not in ran.stderr
    assert not out.exists()
    unchanged()


def test_unknown_customer_is_exit_2(unmo, quarter, unchanged):
    ran = unmo("report", "customer", "nobody", env={"UNMO_NOW": AFTER})
    assert ran.exit_code == 2 and "unknown customer 'nobody'" in ran.stderr
    unchanged()


def test_the_default_quarter_before_a_new_customer_existed_is_exit_2(unmo, quarter):
    ran = unmo("report", "customer", SLUG, env={"UNMO_NOW": "2026-06-20T12:00:00Z"})
    assert ran.exit_code == 2
    assert "2026-Q1 ended before acme-games existed" in ran.stderr
    assert "its first quarter is 2026-Q2" in ran.stderr
