"""Alerts raised by feedback, stored before delivery, posted to a real HTTP receiver on
127.0.0.1; `unmo alerts list/ack/notify`."""

from __future__ import annotations

import json
import socket

import pytest
from support_feedback import alert_rows, onboard, webhook_receiver

from tests.conftest import query


@pytest.fixture
def slug(module_workspaces, workspace) -> str:
    """One onboarded customer: onboarded once for the module, a copy for each test."""
    return module_workspaces.copy(_onboard_techstart, workspace)


def _onboard_techstart(unmo) -> str:
    return onboard(unmo, "TechStart Mobile")


@pytest.fixture
def hook():
    with webhook_receiver() as receiver:
        yield receiver


def add(unmo, slug: str, *args: str, env: dict | None = None):
    ran = unmo("feedback", "add", slug, *args, "--json", env=env)
    assert ran.exit_code == 0, ran.stderr
    return ran


def rules_of(ran) -> list[str]:
    return [a["rule"] for a in ran.json()["alerts"]]


def test_low_satisfaction_and_detractor_delivered_as_slack_text(unmo, slug, hook):
    env = {"UNMO_ALERT_WEBHOOK": hook.url}
    ran = add(unmo, slug, "-s", "5", "--nps", "4", "--category", "support", "--comment",
              "setup took two days", "--received-at", "2026-11-23T10:00:00Z", env=env)
    assert rules_of(ran) == ["low_satisfaction", "detractor"]
    assert ran.json()["delivery"]["delivered"] == 2
    assert ran.stderr == ""
    assert [r.path for r in hook.requests] == ["/services/T000/B000/secret-token"] * 2
    assert all(r.content_type.startswith("application/json") for r in hook.requests)
    assert all(set(r.body) == {"text"} for r in hook.requests)
    low, detractor = hook.texts
    assert low.splitlines()[0] == "unmo alert · low_satisfaction · TechStart Mobile " \
                                  "(techstart-mobile)"
    assert "Satisfaction 5/10, below the alert threshold of 7" in low
    assert "NPS 4/10" in low and "category support" in low and "2026-11-23T10:00:00Z" in low
    assert low.endswith("Comment: “setup took two days”")
    assert "NPS 4/10, a detractor (0–6)" in detractor and "satisfaction 5/10" in detractor
    assert all(row[3] is not None and row[5] == 1 for row in alert_rows())  # notified, 1 try


@pytest.mark.parametrize("score,nps,expected", [
    ("6", "7", ["low_satisfaction"]),
    ("7", "6", ["detractor"]),
    ("7", "7", []),
    ("10", None, []),
    ("1", "0", ["low_satisfaction", "detractor"]),
    ("9", "10", []),
])
def test_per_response_rules_at_their_edges(unmo, slug, score, nps, expected):
    args = ["-s", score] + (["--nps", nps] if nps is not None else [])
    assert rules_of(add(unmo, slug, *args)) == expected


def test_thresholds_come_from_unmo_yaml(unmo, slug, workspace):
    (workspace / "unmo.yaml").write_text("alerts:\n  satisfaction_below: 5\n  drop_points: 30\n")
    assert rules_of(add(unmo, slug, "-s", "5")) == []
    assert rules_of(add(unmo, slug, "-s", "4")) == ["low_satisfaction"]


def drop_series(unmo, slug: str, series: list[tuple[str, str]], env=None) -> list[list[str]]:
    return [rules_of(add(unmo, slug, "-s", score, "--received-at", at, env=env))
            for at, score in series]


def test_satisfaction_drop_fires_on_the_crossing_only(unmo, slug, workspace):
    # satisfaction_below 1 keeps the per-response rule quiet; only the drop rule speaks
    (workspace / "unmo.yaml").write_text("alerts:\n  satisfaction_below: 1\n")
    fired = drop_series(unmo, slug, [
        ("2026-09-01T10:00:00Z", "9"),   # the previous window of the October answers: 90 %
        ("2026-09-05T10:00:00Z", "9"),
        ("2026-10-10T10:00:00Z", "8"),   # last 30 d: 80 % vs 90 % before → a drop of 10.0
        ("2026-10-12T10:00:00Z", "7"),   # 75 % vs 90 %: still dropped, no second alert
        ("2026-10-14T10:00:00Z", "8"),   # 76.7 % vs 90 %: still dropped
    ])
    assert fired == [[], [], ["satisfaction_drop"], [], []]
    [(text,)] = query("SELECT text FROM alerts")
    assert ("Satisfaction 80.0% over the 30 days to 2026-10-10T10:00:00Z (1 responses), down "
            "10.0 points from 90.0% over the 30 days before (2 responses); the alert threshold "
            "is 10 points.") in text
    assert query("SELECT score FROM alerts") == [(80.0,)]


def test_satisfaction_drop_re_arms_after_recovery(unmo, slug, workspace):
    (workspace / "unmo.yaml").write_text("alerts:\n  satisfaction_below: 1\n")
    fired = drop_series(unmo, slug, [
        ("2026-09-01T10:00:00Z", "10"),
        ("2026-10-05T10:00:00Z", "8"),   # 80 vs 100: drop
        ("2026-11-20T10:00:00Z", "9"),   # 90 vs nothing before (Oct 21–Nov 20 empty? no: Oct 5
                                         # is 46 days back → previous window): rose, recovered
        ("2026-11-25T10:00:00Z", "7"),   # 80 vs 80 (Oct 5 still previous): no drop
        ("2026-12-30T10:00:00Z", "6"),   # 60 vs 80 (Nov 20, Nov 25): dropped again → alert
    ])
    assert fired == [[], ["satisfaction_drop"], [], [], ["satisfaction_drop"]]


def test_drop_below_threshold_does_not_fire(unmo, slug, workspace):
    (workspace / "unmo.yaml").write_text("alerts:\n  satisfaction_below: 1\n")
    fired = drop_series(unmo, slug, [("2026-09-01T10:00:00Z", "9"), ("2026-09-02T10:00:00Z", "8"),
                                     ("2026-10-10T10:00:00Z", "8")])  # 80 vs 85: only 5 points
    assert fired == [[], [], []]


def test_window_edges_are_half_open(unmo, slug):
    """recent: T − 30 d < received_at ≤ T; previous: T − 60 d < received_at ≤ T − 30 d."""
    from datetime import timedelta

    from unmo_cli import clock
    from unmo_cli.db import open_database
    from unmo_cli.services.alerts import satisfaction_windows
    from unmo_cli.workspace import load_workspace

    anchor = clock.parse_instant("2026-10-31T10:00:00Z")
    day, second = timedelta(days=1), timedelta(seconds=1)
    for offset, score in [(-60 * day, "1"), (-60 * day + second, "2"), (-30 * day, "3"),
                          (-30 * day + second, "5"), (timedelta(0), "6"), (second, "9")]:
        add(unmo, slug, "-s", score, "--received-at", clock.iso(anchor + offset))
    ws = load_workspace()
    db = open_database(ws)
    try:
        with db.session() as session:
            (customer_id,) = query("SELECT id FROM customers")[0]
            windows = satisfaction_windows(session, customer_id, anchor)
    finally:
        db.dispose()
    assert (windows.previous_sum, windows.previous_responses) == (2 + 3, 2)
    assert (windows.recent_sum, windows.recent_responses) == (5 + 6, 2)
    assert (windows.previous_pct, windows.recent_pct, windows.drop_points) == (25.0, 55.0, -30.0)


def test_500_webhook_keeps_the_alert_pending_then_notify_sends_it_once(unmo, slug, hook):
    env = {"UNMO_ALERT_WEBHOOK": hook.url}
    hook.status = 500
    ran = add(unmo, slug, "-s", "3", env=env)
    assert ran.exit_code == 0
    assert "warning: could not deliver 1 alert to the webhook (HTTP 500 after 3 attempts)" \
        in ran.stderr
    assert "run `unmo alerts notify` later" in ran.stderr
    assert len(hook.requests) == 3  # one try and two retries
    [alert] = alert_rows()
    assert alert[3] is None and alert[5] == 3 and alert[6] == "HTTP 500 after 3 attempts"
    listed = unmo("alerts", "list", "--json").json()
    assert [(a["status"], a["attempts"]) for a in listed] == [("pending", 3)]

    hook.status = 200
    hook.clear()
    sent = unmo("alerts", "notify", "--json", env=env)
    assert sent.exit_code == 0, sent.stderr
    assert sent.json() == {"webhook": True, "delivered": 1, "failed": 0, "pending": 0,
                           "in_flight": 0, "error": None}
    assert len(hook.requests) == 1 and "low_satisfaction" in hook.texts[0]
    [alert] = alert_rows()
    assert alert[3] is not None and alert[5] == 4 and alert[6] is None

    again = unmo("alerts", "notify", env=env)
    assert again.exit_code == 0 and "sent 0 alerts (none pending)" in again.stderr
    assert len(hook.requests) == 1


def test_dead_webhook_never_fails_the_feedback_command(unmo, slug):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/T000/B000/secret-token"
    ran = add(unmo, slug, "-s", "2", "--nps", "1", env={"UNMO_ALERT_WEBHOOK": url})
    assert "could not deliver 2 alerts to the webhook (could not connect after 3 attempts)" \
        in ran.stderr
    assert "secret-token" not in ran.stderr + ran.stdout
    rows = alert_rows()
    assert len(rows) == 2 and all(r[3] is None for r in rows)
    # the run stopped at the first failure: the second alert was not tried at all
    assert [r[5] for r in rows] == [3, 0]
    assert "secret-token" not in str(rows)
    notify = unmo("alerts", "notify", env={"UNMO_ALERT_WEBHOOK": url})
    assert notify.exit_code == 3
    assert notify.stderr.strip() == ("error: the webhook failed (could not connect after 3 "
                                     "attempts); 2 alerts stay pending.")


def test_client_error_is_not_retried(unmo, slug, hook):
    hook.status = 404
    ran = add(unmo, slug, "-s", "2", env={"UNMO_ALERT_WEBHOOK": hook.url})
    assert "HTTP 404 after 1 attempts" in ran.stderr
    assert len(hook.requests) == 1


def test_without_webhook_alerts_wait_with_a_note(unmo, slug):
    ran = add(unmo, slug, "-s", "2")
    assert ran.stderr.strip() == (
        "note: 1 alert stays pending: no webhook is configured (set alerts.webhook_url in "
        "unmo.yaml or UNMO_ALERT_WEBHOOK), then run `unmo alerts notify`.")
    assert ran.json()["delivery"] == {"webhook": False, "delivered": 0, "failed": 0,
                                      "pending": 1, "in_flight": 0, "error": None}
    notify = unmo("alerts", "notify")
    assert notify.exit_code == 3
    assert "1 pending alert not sent: no webhook is configured" in notify.stderr
    assert alert_rows()[0][3] is None


def test_no_alert_no_note(unmo, slug):
    assert add(unmo, slug, "-s", "9").stderr == ""


def test_ack_list_open_and_acked_alerts_are_not_sent(unmo, slug, hook):
    add(unmo, slug, "-s", "2")
    add(unmo, slug, "-s", "8", "--nps", "5")
    ran = unmo("alerts", "ack", "1")
    assert ran.exit_code == 0 and "acknowledged alert #1 (low_satisfaction" in ran.stderr
    again = unmo("alerts", "ack", "1")
    assert again.exit_code == 0 and "already acknowledged" in again.stderr
    assert [a["id"] for a in unmo("alerts", "list", "--open", "--json").json()] == [2]
    everything = unmo("alerts", "list", "--json").json()
    assert [(a["id"], a["status"]) for a in everything] == [(1, "acked"), (2, "pending")]
    assert set(everything[0]) == {"id", "customer", "customer_name", "rule", "score", "status",
                                  "text", "feedback_id", "created_at", "notified_at",
                                  "acked_at", "attempts", "last_error"}
    sent = unmo("alerts", "notify", "--json", env={"UNMO_ALERT_WEBHOOK": hook.url})
    assert sent.json()["delivered"] == 1
    assert hook.rules() == ["detractor"]
    table = unmo("alerts", "list")
    assert table.exit_code == 0 and "detractor" in table.stdout


def test_ack_unknown_or_bad_id_exit_2(unmo, slug, unchanged):
    ran = unmo("alerts", "ack", "42")
    assert ran.exit_code == 2 and "no alert with id 42" in ran.stderr
    assert unmo("alerts", "ack", "abc").exit_code == 2
    assert unmo("alerts", "ack", "0").exit_code == 2
    unchanged()


def test_ack_is_all_or_nothing(unmo, slug):
    add(unmo, slug, "-s", "2")
    ran = unmo("alerts", "ack", "1", "7")
    assert ran.exit_code == 2 and "no alert with id 7" in ran.stderr
    assert alert_rows()[0][4] is None


def test_alert_is_committed_before_the_post(unmo, slug, hook):
    """While the receiver holds the POST open, another connection already sees the alert."""
    seen: list[list[tuple]] = []
    hook.on_request = lambda: seen.append(query("SELECT id, notified_at FROM alerts"))
    add(unmo, slug, "-s", "2", env={"UNMO_ALERT_WEBHOOK": hook.url})
    assert seen == [[(1, None)]]


def test_record_alert_api_for_other_domains(unmo, slug, hook, monkeypatch):
    """health uses record_alert + deliver_pending: generic rules, secrets never in text."""
    from unmo_cli import apikeys
    from unmo_cli.db import open_database
    from unmo_cli.services.alerts import deliver_pending, headline, record_alert
    from unmo_cli.workspace import load_workspace

    secret = apikeys.generate("secret", "live")
    ws = load_workspace()
    db = open_database(ws)
    try:
        with db.session() as session:
            (customer_id,) = query("SELECT id FROM customers")[0]
            alert_id = record_alert(session, customer_id, "health_failing",
                                    f"{headline('health_failing', 'TechStart Mobile', slug)}\n"
                                    f"401 with {secret}", None)
        with pytest.raises(ValueError), db.session() as session:
            record_alert(session, customer_id, "made_up_rule", "x")
        monkeypatch.setenv("UNMO_ALERT_WEBHOOK", hook.url)
        report = deliver_pending(load_workspace(), db, [alert_id])
    finally:
        db.dispose()
    assert (report.delivered, report.pending) == (1, 0)
    assert secret not in hook.texts[0] and apikeys.hint(secret) in hook.texts[0]
    assert json.dumps(hook.requests[0].body).count("health_failing") == 1
