"""`unmo customer note` and `unmo customer timeline`: a scripted account history made through
the real CLI (onboarding, phase, record changes, a note, feedback that raises alerts and their
acknowledgement, health checks against a scripted API, a key rotation, churn and return) comes
back as one chronological list, health as status transitions only; filters, bad input and what
the output may show."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import query
from hypothesis import given, settings
from hypothesis import strategies as st
from support_health import PlayServer

SLUG = "acme-games"
ONBOARDED = "2026-10-01T09:00:00Z"
NOW = "2026-10-20T12:00:00Z"


def at(day: int, hour: int = 9, minute: int = 0) -> dict[str, str]:
    return {"UNMO_NOW": f"2026-10-{day:02d}T{hour:02d}:{minute:02d}:00Z"}


def ok(ran):
    assert ran.exit_code == 0, ran.stderr
    return ran


def onboard_acme(unmo) -> None:
    ok(unmo("onboard", "Acme Games", "--contact-name", "Ann Lee", "--contact-email",
            "ann@acme.example", "--industry", "gaming", "--integration", "s2s",
            "--events-per-day", "1000", "--provider", "adjust", "--mrr", "2500", "--yes",
            env={"UNMO_NOW": ONBOARDED}))


def live_key(workspace: Path) -> str:
    env = (workspace / "customers" / SLUG / ".env").read_text()
    return next(line.split("=", 1)[1].strip("'\"") for line in env.splitlines()
                if line.startswith("UNMO_SECRET_KEY_LIVE="))


def health_checks(unmo, api: PlayServer, key: str, plays: list[str], day: int) -> list[str]:
    """One `unmo health` run per play, a minute apart on `day`; the statuses recorded."""
    found = []
    for minute, play in enumerate(plays):
        api.plays[key] = play
        ran = unmo("health", SLUG, "--retries", "0", "--format", "json",
                   env={"UNMO_API_URL": api.url} | at(day, 10, minute))
        assert ran.exit_code in (0, 1), ran.stderr
        found.append(ran.json()["results"][0]["status"])
    return found


@pytest.fixture
def acme(module_workspaces, workspace: Path) -> str:
    """Acme onboarded: once for the module, a copy for each test."""
    return module_workspaces.copy(_onboarded, workspace)


def _onboarded(unmo) -> str:
    onboard_acme(unmo)
    return SLUG


@pytest.fixture
def history(module_workspaces, workspace: Path) -> list[str]:
    """Acme's scripted history, made once for the module (a copy for each test); returns the
    health statuses its checks recorded."""
    return module_workspaces.copy(_scripted_history, workspace)


def _scripted_history(unmo) -> list[str]:
    workspace = Path(os.environ["UNMO_WORKSPACE"])
    onboard_acme(unmo)
    ok(unmo("customer", "phase", SLUG, "launch", env=at(5)))
    ok(unmo("customer", "set", SLUG, "--mrr", "3000", "--contact-email", "bo@acme.example",
            env=at(6)))
    ok(unmo("customer", "note", SLUG, "Call with Bo:\nrenewal talk in March",
            env=at(7) | {"UNMO_ACTOR": "kim@unmogrowp.example"}))
    ok(unmo("feedback", "add", SLUG, "--satisfaction", "3", "--nps", "8", "--comment",
            "slow dashboards", env=at(8)))
    ok(unmo("alerts", "ack", "1", env=at(9)))
    api = PlayServer()
    try:
        statuses = health_checks(unmo, api, live_key(workspace),
                                 ["healthy", "healthy", "500", "500", "500", "healthy",
                                  "healthy", "healthy"], day=10)
    finally:
        api.stop()
    ok(unmo("keys", "rotate", SLUG, "--kind", "secret", "--env", "live", env=at(11)))
    ok(unmo("customer", "churn", SLUG, "--reason", "budget cut", env=at(12)))
    ok(unmo("customer", "reactivate", SLUG, "--mrr", "2000", env=at(14)))
    return statuses


def timeline(unmo, *args: str) -> list[dict]:
    return ok(unmo("customer", "timeline", SLUG, *args, "--json", env={"UNMO_NOW": NOW})).json()


def test_the_history_comes_back_in_order_with_health_transitions_only(unmo, history):
    failing = history[2]
    assert history == ["healthy", "healthy", failing, failing, failing, "healthy", "healthy",
                       "healthy"] and failing != "healthy"
    events = timeline(unmo)
    assert [e["kind"] for e in events] == [
        "onboarded", "phase", "mrr", "change", "note", "feedback", "alert", "alert_ack",
        "health", "health", "alert", "health", "alert", "key", "churn", "reactivation"]
    assert all(set(e) == {"at", "kind", "summary", "details"} for e in events)
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    by_kind: dict[str, list[dict]] = {}
    for e in events:
        by_kind.setdefault(e["kind"], []).append(e)
    onboarded = by_kind["onboarded"][0]
    assert onboarded["at"] == ONBOARDED and onboarded["details"]["mrr"] == "2500.00"
    assert by_kind["phase"][0]["details"] == {"from": "setup", "to": "launch"}
    assert by_kind["mrr"][0]["details"]["movement"] == "expansion"
    assert by_kind["mrr"][0]["summary"] == "MRR $2,500.00 → $3,000.00 (expansion)"
    # a record change shows old → new as `customer set` does (the contact's address included)
    change = by_kind["change"][0]
    assert (change["details"]["field"], change["details"]["old"], change["details"]["new"]) == (
        "contact_email", "ann@acme.example", "bo@acme.example")
    note = by_kind["note"][0]
    assert note["details"]["text"] == "Call with Bo:\nrenewal talk in March"
    assert note["details"]["author"] == "kim@unmogrowp.example"
    assert "\n" not in note["summary"] and "renewal talk in March" in note["summary"]
    assert by_kind["feedback"][0]["details"]["satisfaction"] == 3
    assert [a["details"]["rule"] for a in by_kind["alert"]] == [
        "low_satisfaction", "health_failing", "health_resolved"]
    assert by_kind["alert_ack"][0]["details"]["id"] == by_kind["alert"][0]["details"]["id"]
    health = [(e["details"]["from"], e["details"]["to"], e["at"]) for e in by_kind["health"]]
    assert health == [(None, "healthy", "2026-10-10T10:00:00Z"),
                      ("healthy", failing, "2026-10-10T10:02:00Z"),
                      (failing, "healthy", "2026-10-10T10:05:00Z")]
    key = by_kind["key"][0]["details"]
    assert (key["kind"], key["environment"]) == ("secret", "live")
    assert key["old_hint"] != key["new_hint"] and "…" in key["new_hint"]
    assert by_kind["churn"][0]["details"]["reason"] == "budget cut"
    assert by_kind["churn"][0]["details"]["mrr_before"] == "3000.00"
    assert by_kind["reactivation"][0]["details"]["mrr_after"] == "2000.00"


def test_since_kind_and_limit_filter(unmo, history):
    everything = timeline(unmo)
    since = timeline(unmo, "--since", "2026-10-10T10:03:00Z")
    assert since == [e for e in everything if e["at"] >= "2026-10-10T10:03:00Z"]
    # the checks before --since still decide what is a transition after it: no "first check"
    assert [e["details"]["from"] for e in since if e["kind"] == "health"] == [history[2]]
    later = timeline(unmo, "--since", "2026-10-10T10:06:00Z", "--kind", "health")
    assert later == []  # healthy → healthy is no transition
    only = timeline(unmo, "--kind", "health", "--kind", "churn")
    assert [e["kind"] for e in only] == ["health", "health", "health", "churn"]
    assert timeline(unmo, "--kind", "NOTE") == [e for e in everything if e["kind"] == "note"]
    assert timeline(unmo, "--limit", "3") == everything[-3:]
    assert timeline(unmo, "--limit", "3", "--kind", "alert") == [
        e for e in everything if e["kind"] == "alert"][-3:]
    assert timeline(unmo, "--since", "2026-10-14") == everything[-1:]  # a date: its midnight
    assert timeline(unmo, "--since", "2030-01-01") == []
    ran = ok(unmo("customer", "timeline", SLUG, "--kind", "onboarded"))
    assert ran.stdout.startswith(f"{SLUG}: 1 event\n")


def test_the_table_fits_the_terminal(unmo, history):
    ran = ok(unmo("customer", "timeline", SLUG, env={"UNMO_NOW": NOW, "COLUMNS": "80"}))
    lines = ran.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), ran.stdout
    assert lines[0].startswith(f"{SLUG}: 16 events")
    assert "2026-10-10 10:02" in ran.stdout and "2026-10-01 09:00  onboarded" in ran.stdout


def test_a_note_is_stored_whole_and_dated(unmo, acme):
    ran = ok(unmo("customer", "note", SLUG, "  QBR:\n- usage up\n- wants SSO  ", "--at",
                  "2026-10-03", "--json", env={"UNMO_NOW": NOW}))
    document = ran.json()
    assert document == {"customer": SLUG, "at": "2026-10-03T00:00:00Z",
                        "text": "QBR:\n- usage up\n- wants SSO", "author": None,
                        "recorded_at": NOW}
    # the onboarding day means the moment of onboarding, as for --effective
    ok(unmo("customer", "note", SLUG, "kick-off", "--at", "2026-10-01", env={"UNMO_NOW": NOW}))
    ok(unmo("customer", "note", SLUG, "-", input="from\nstdin\n", env={"UNMO_NOW": NOW}))
    rows = query("SELECT at, text FROM notes ORDER BY id")
    assert [r[1] for r in rows] == ["QBR:\n- usage up\n- wants SSO", "kick-off", "from\nstdin"]
    assert rows[1][0].startswith("2026-10-01 09:00:00")
    ran = ok(unmo("customer", "note", SLUG, "plain", env={"UNMO_NOW": NOW}))
    assert ran.stdout == "" and f"{SLUG}: note recorded" in ran.stderr


@pytest.mark.parametrize(("args", "env", "problem"), [
    (("nobody", "hello"), {}, "unknown customer 'nobody'"),
    ((SLUG, "hello", "--at", "2026-09-30"), {}, "before acme-games existed"),
    ((SLUG, "hello", "--at", "2026-10-01T08:59:59Z"), {}, "before acme-games existed"),
    ((SLUG, "hello", "--at", "2026-10-21"), {}, "in the future"),
    ((SLUG, "hello", "--at", "last tuesday"), {}, "not a date"),
    ((SLUG, "   "), {}, "the note is empty"),
    ((SLUG, "hi \x1b[2J there"), {}, "control character"),
    ((SLUG, "invoice\u202etxt.exe"), {}, "bidirectional control"),
    ((SLUG, "x" * 10_001), {}, "at most 10,000"),
    ((SLUG, "hello"), {"UNMO_ACTOR": "kim\x07"}, "UNMO_ACTOR"),
])
def test_bad_notes_are_exit_2_and_write_nothing(unmo, acme, unchanged, args, env, problem):
    ran = unmo("customer", "note", *args, env={"UNMO_NOW": NOW} | env)
    assert ran.exit_code == 2, ran.stderr
    assert ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1, ran.stderr
    assert problem in ran.stderr
    unchanged()


@pytest.mark.parametrize(("args", "problem"), [
    (("nobody",), "unknown customer 'nobody'"),
    ((SLUG, "--kind", "meeting"), "--kind 'meeting' is not one of onboarded, phase, mrr"),
    ((SLUG, "--since", "yesterday"), "--since 'yesterday' is not a date"),
    ((SLUG, "--since", "2026-02-30"), "not a date"),
    ((SLUG, "--limit", "0"), "--limit 0 must be between 1"),
])
def test_bad_timeline_input_is_exit_2(unmo, acme, unchanged, args, problem):
    ran = unmo("customer", "timeline", *args, "--json")
    assert ran.exit_code == 2, ran.stderr
    assert ran.stdout == ""
    assert ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1, ran.stderr
    assert problem in ran.stderr
    unchanged()


@pytest.mark.sqlite_only
def test_the_timeline_of_an_empty_workspace_creates_nothing(unmo, workspace):
    ran = unmo("customer", "timeline", "acme", "--json")
    assert ran.exit_code == 2 and "unknown customer 'acme'" in ran.stderr
    assert list(workspace.iterdir()) == []


def test_email_sendings_and_survey_answers_show_the_domain_only(unmo, workspace):
    from support_onboarding import onboard
    from support_smtp import smtp_server
    from support_survey import (
        configure,
        form_token,
        free_port,
        http_get,
        http_post,
        survey_link,
        survey_server,
    )

    slug = onboard(unmo)["customer"]["slug"]
    port = free_port()
    with smtp_server() as box:
        configure(workspace, box.port, port)
        ok(unmo("email", "send", slug, "welcome"))
        ok(unmo("survey", "send", slug))
    link = survey_link(box.messages()[1])
    with survey_server(workspace, port):
        page = http_get(link)
        posted = http_post(link, data={"satisfaction": "9", "nps": "10", "category": "other",
                                       "form_token": form_token(page.text)})
        assert posted.status_code == 200, posted.text
    ran = ok(unmo("customer", "timeline", slug, "--json"))
    events = ran.json()
    emails = [e for e in events if e["kind"] == "email"]
    assert [(e["details"]["kind"], e["details"]["outcome"], e["details"]["to"])
            for e in emails] == [("welcome", "sent", "…@techstart.example"),
                                 ("survey", "sent", "…@techstart.example")]
    assert emails[0]["details"]["message_id"] == box.messages()[0]["Message-ID"]
    survey = [e for e in events if e["kind"] == "survey"]
    assert len(survey) == 1 and survey[0]["details"]["satisfaction"] == 9
    assert [e["kind"] for e in events].index("survey") < [e["kind"] for e in events].index(
        "feedback")
    since = ok(unmo("customer", "timeline", slug, "--since", emails[1]["at"], "--kind", "email",
                    "--json")).json()
    assert since == emails[1:]
    human = ok(unmo("customer", "timeline", slug)).stdout
    for output in (ran.stdout, human):
        assert "growth@" not in output  # the contact's address never shows, only its domain


# Line breaks and tabs (white space), controls, bidirectional marks, noncharacters, a lone
# surrogate, a no-break space and the usual printable text: what a note or comment may hold.
_FREE_TEXT = st.text(alphabet=st.sampled_from(list(
    "ab é漢 \t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u2029\u200e\u202e\x00\x07\x7f\u3000\ufdd0\ud800")),
    max_size=40)


@settings(max_examples=2000, deadline=None)
@given(text=_FREE_TEXT, limit=st.integers(min_value=1, max_value=30))
def test_a_summary_quotes_free_text_as_one_line_of_its_words(text, limit):
    """_cut skips text.one_line's regular expression when the words alone are printable: the
    same line as one_line's words, cut at the same place."""
    from unmo_cli.services.timeline import _cut
    from unmo_cli.text import one_line

    words = " ".join(one_line(text).split()) if not text.isprintable() else text
    expected = words if len(words) <= limit else words[:limit - 1].rstrip() + "…"
    assert _cut(text, limit) == expected
