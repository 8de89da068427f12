"""Surveys end to end without a browser: `unmo survey send` e-mails a signed link (received by
aiosmtpd and parsed), the link is followed against a real `unmo survey serve` process, and the
answer lands as feedback with its alerts. Every bad request gets its status and writes nothing."""

from __future__ import annotations

import os

import httpx
import pytest
from conftest import query
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

ANSWER = {"satisfaction": "4", "nps": "3", "category": "support", "comment": "slow replies"}


def _feedback() -> list[tuple]:
    return query("SELECT satisfaction, nps, category, comment, source FROM feedback ORDER BY id")


def _state() -> tuple:
    return (query("SELECT * FROM feedback ORDER BY id"), query("SELECT * FROM alerts ORDER BY id"),
            query("SELECT id, answers, feedback_id FROM survey_invitations ORDER BY id"))


@pytest.fixture
def surveyed(unmo, workspace):
    """One customer, a survey e-mailed to it, and the survey server running: (link, url)."""
    slug = onboard(unmo)["customer"]["slug"]
    port = free_port()
    with smtp_server() as box:
        configure(workspace, box.port, port)
        sent = unmo("survey", "send", slug, "--json")
        assert sent.exit_code == 0, sent.stderr
    assert len(box.received) == 1
    message = box.messages()[0]
    link = survey_link(message)
    with survey_server(workspace, port) as url:
        yield link, url, message, sent.json()


def test_the_survey_email_carries_a_signed_link(surveyed):
    link, url, message, document = surveyed
    assert message["To"].addresses[0].addr_spec == "growth@techstart.example"
    assert message["Subject"] == "How is UnMoGrowP working for TechStart Mobile?"
    assert link.startswith(f"{url}/s/")
    assert link in message.get_body(("html",)).get_content()
    assert document["sent"] == 1 and document["sendings"][0]["kind"] == "survey"
    token = link.rsplit("/", 1)[1]
    assert token not in repr(query("SELECT * FROM survey_invitations"))  # only the nonce


def test_the_access_log_never_shows_a_token(surveyed, workspace):
    link, url, _m, _d = surveyed
    token = link.rsplit("/", 1)[1]
    assert http_get(link).status_code == 200
    assert http_post(link, data={"satisfaction": "5", "form_token": "x"}).status_code == 403
    log = "".join(path.read_text(errors="replace")
                  for path in workspace.parent.glob("survey-serve-*.log"))
    assert '"GET /s/… HTTP/1.1" 200' in log and '"POST /s/… HTTP/1.1" 403' in log
    assert token not in log and token.split(".")[0] not in log


def test_following_the_link_records_the_answer_with_its_alerts(surveyed):
    link, _url, _message, _document = surveyed
    page = http_get(link)
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<meta name="viewport"' in page.text and "<script" not in page.text
    posted = http_post(link, data={**ANSWER, "form_token": form_token(page.text)})
    assert posted.status_code == 200, posted.text
    assert "Your answer is recorded" in posted.text
    assert _feedback() == [(4, 3, "support", "slow replies", "survey")]
    rules = sorted(r[0] for r in query("SELECT rule FROM alerts"))
    assert rules == ["detractor", "low_satisfaction"]
    assert query("SELECT answers FROM survey_invitations") == [(1,)]


def test_a_second_answer_within_a_day_replaces_the_first_and_later_is_refused(surveyed):
    link, _url, _m, _d = surveyed
    first = http_get(link)
    assert http_post(link, data={**ANSWER, "form_token": form_token(first.text)}
                      ).status_code == 200
    again = http_get(link)
    assert "you can change your answer until" in again.text
    assert 'value="4" required checked' in again.text  # the form shows the answer given
    changed = http_post(link, data={"satisfaction": "9", "nps": "10", "category": "other",
                                    "form_token": form_token(again.text)})
    assert changed.status_code == 200 and "Your answer is changed" in changed.text
    assert _feedback() == [(9, 10, "other", None, "survey")]
    # A day later the answer stands.
    _age_first_answer(days=2)
    late = http_get(link)
    assert "that day is over" in late.text and "form_token" not in late.text
    refused = http_post(link, data={"satisfaction": "1", "form_token": form_token(again.text)})
    assert refused.status_code == 409
    assert "can no longer be changed" in refused.text
    assert _feedback() == [(9, 10, "other", None, "survey")]


def _age_first_answer(days: int) -> None:
    from datetime import timedelta

    from sqlalchemy import select, update

    from unmo_cli.db import connect
    from unmo_cli.db.models import SurveyInvitation
    from unmo_cli.workspace import load_workspace

    db = connect(load_workspace().database_url)
    try:
        with db.session() as session:
            for row in session.execute(select(SurveyInvitation)).scalars().all():
                session.execute(update(SurveyInvitation).where(SurveyInvitation.id == row.id)
                                .values(first_answered_at=row.first_answered_at
                                        - timedelta(days=days)))
    finally:
        db.dispose()


def test_a_replayed_post_is_refused(surveyed):
    link, _url, _m, _d = surveyed
    body = {**ANSWER, "form_token": form_token(http_get(link).text)}
    assert http_post(link, data=body).status_code == 200
    before = _state()
    replay = http_post(link, data=body)
    assert replay.status_code == 409 and "already sent" in replay.text
    assert _state() == before


@pytest.mark.parametrize("change", ["forged", "altered_expiry", "truncated", "garbage"])
def test_forged_and_altered_tokens_get_403_and_write_nothing(surveyed, change):
    link, url, _m, _d = surveyed
    good = http_get(link)
    token = link.rsplit("/", 1)[1]
    nonce, expires, mac = token.split(".")
    bad = {"forged": f"{nonce}.{expires}.{'A' * 43}",
           "altered_expiry": f"{nonce}.{int(expires) + 86400 * 365}.{mac}",
           "truncated": token[:-1], "garbage": "x" * 500}[change]
    before = _state()
    shown = http_get(f"{url}/s/{bad}")
    assert shown.status_code == 403 and "does not work" in shown.text
    posted = http_post(f"{url}/s/{bad}", data={**ANSWER, "form_token": form_token(good.text)})
    assert posted.status_code == 403
    assert _state() == before


def test_a_form_token_from_elsewhere_is_refused(surveyed):
    link, _url, _m, _d = surveyed
    before = _state()
    for token in ("", "0.1700000000." + "A" * 43, "nonsense"):
        posted = http_post(link, data={**ANSWER, "form_token": token})
        assert posted.status_code == 403, token
    assert _state() == before


@pytest.mark.parametrize(("field", "value"), [("satisfaction", "11"), ("satisfaction", "0"),
                                              ("nps", "-1"), ("nps", "11"),
                                              ("satisfaction", ""), ("category", "pricing")])
def test_out_of_range_answers_are_400_and_write_nothing(surveyed, field, value):
    link, _url, _m, _d = surveyed
    before = _state()
    posted = http_post(link, data={**ANSWER, field: value,
                                   "form_token": form_token(http_get(link).text)})
    assert posted.status_code == 400
    assert 'role="alert"' in posted.text and "form_token" in posted.text  # the form again
    assert _state() == before


def test_oversized_bodies_are_413_declared_or_not(surveyed):
    link, _url, _m, _d = surveyed
    token = form_token(http_get(link).text)
    before = _state()
    big = http_post(link, data={**ANSWER, "comment": "x" * 17_000, "form_token": token})
    assert big.status_code == 413

    def chunks():
        yield b"satisfaction=5&form_token=" + token.encode() + b"&comment="
        for _ in range(40):
            yield b"y" * 1024

    streamed = http_post(link, content=chunks(),
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert streamed.status_code == 413
    assert _state() == before


def test_other_requests(surveyed):
    _link, url, _m, _d = surveyed
    assert http_get(f"{url}/healthz").json() == {"status": "ok"}
    missing = http_get(f"{url}/admin")
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert missing.headers["content-security-policy"].startswith("default-src 'none'")
    assert httpx.put(f"{url}/s/abc").status_code == 405
    assert http_get(f"{url}/survey.css").headers["content-type"].startswith("text/css")
    wrong_type = http_post(_link, json={"satisfaction": 5})
    assert wrong_type.status_code == 415


def test_expired_links_get_403(unmo, workspace):
    slug = onboard(unmo)["customer"]["slug"]
    port = free_port()
    with smtp_server() as box:
        configure(workspace, box.port, port)
        sent = unmo("survey", "send", slug, env={"UNMO_NOW": "2026-01-01T00:00:00Z"})
        assert sent.exit_code == 0, sent.stderr
    link = survey_link(box.messages()[0])
    with survey_server(workspace, port):
        page = http_get(link)
        assert page.status_code == 403 and "expired" in page.text
        posted = http_post(link, data={**ANSWER, "form_token": "0.1." + "A" * 43})
        assert posted.status_code == 403
    assert _feedback() == []


def test_answers_per_address_are_rate_limited(unmo, workspace):
    slug = onboard(unmo)["customer"]["slug"]
    port = free_port()
    with smtp_server() as box:
        configure(workspace, box.port, port, extra="  answers_per_minute: 2\n")
        assert unmo("survey", "send", slug).exit_code == 0
    link = survey_link(box.messages()[0])
    with survey_server(workspace, port):
        statuses = [http_post(link, data={**ANSWER, "form_token": "x"}).status_code
                    for _ in range(3)]
    assert statuses == [403, 403, 429]


def test_sending_again_sends_nothing_while_the_link_is_open(unmo, workspace):
    slug = onboard(unmo)["customer"]["slug"]
    onboard(unmo, "Ecom Growth Labs", "s2s")
    with smtp_server() as box:
        configure(workspace, box.port, free_port())
        first = unmo("survey", "send", "--all", "--json")
        again = unmo("survey", "send", "--all", "--json")
        dry = unmo("survey", "send", slug, "--dry-run", "--json")
    assert first.exit_code == 0 and again.exit_code == 0 and dry.exit_code == 0
    assert first.json()["sent"] == 2 and again.json()["already_sent"] == 2
    assert len(box.received) == 2
    assert query("SELECT count(*) FROM survey_invitations") == [(2,)]


def test_survey_send_needs_customers_and_a_public_url(unmo, workspace):
    onboard(unmo)
    assert unmo("survey", "send").exit_code == 2
    no_url = unmo("survey", "send", "--all")
    assert no_url.exit_code == 2 and "survey.public_url" in no_url.stderr
    assert query("SELECT count(*) FROM survey_invitations") == [(0,)]


def test_email_send_survey_is_the_same_request(unmo, workspace):
    slug = onboard(unmo)["customer"]["slug"]
    with smtp_server() as box:
        configure(workspace, box.port, free_port())
        assert unmo("email", "send", slug, "survey").exit_code == 0
        again = unmo("survey", "send", slug, "--json")
    assert again.json()["already_sent"] == 1 and len(box.received) == 1


def test_the_weekly_report_has_the_survey_response_rate(unmo, workspace):
    from datetime import UTC, datetime

    slug = onboard(unmo)["customer"]["slug"]
    onboard(unmo, "Ecom Growth Labs", "s2s")
    port = free_port()
    with smtp_server() as box:
        configure(workspace, box.port, port)
        assert unmo("survey", "send", "--all").exit_code == 0
    links = {m["To"].addresses[0].addr_spec: survey_link(m) for m in box.messages()}
    with survey_server(workspace, port):
        link = links["growth@techstart.example"]
        assert http_post(link, data={**ANSWER, "form_token": form_token(http_get(link).text)}
                          ).status_code == 200
    year, week, _ = datetime.now(UTC).isocalendar()
    label = f"{year}-W{week:02d}"
    document = unmo("report", "weekly", "--week", label, "--json").json()
    assert document["surveys"] == {"sent": 2, "answered": 1, "response_rate_pct": 50.0}
    assert document["previous"]["surveys"]["response_rate_pct"] is None
    markdown = unmo("report", "weekly", "--week", label, "--format", "markdown").stdout
    assert "Survey response rate: 50.0% — 1 of 2 surveys sent this week answered" in markdown
    html = unmo("report", "weekly", "--week", label, "--format", "html").stdout
    assert "Survey response rate (answered / sent)</dt><dd>50.0% (1 / 2)" in html
    table = unmo("report", "weekly", "--week", label).stdout
    assert "Survey response rate" in table and "50.0%" in table
    assert slug


def test_the_same_form_posted_many_times_at_once_is_stored_once(surveyed):
    import asyncio

    link, _url, _m, _d = surveyed
    body = {**ANSWER, "form_token": form_token(http_get(link).text)}

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=30) as client:
            answers = await asyncio.gather(*(client.post(link, data=body) for _ in range(12)))
        return sorted(a.status_code for a in answers)

    assert asyncio.run(burst()) == [200] + [409] * 11
    assert len(_feedback()) == 1
    assert query("SELECT answers FROM survey_invitations") == [(1,)]


@pytest.mark.parametrize("missing", ["uvicorn", "starlette"])
def test_serve_without_the_survey_extra_says_how_to_install_it(workspace, missing):
    import subprocess
    import sys

    code = (f"import sys; sys.modules[{missing!r}] = None; sys.argv = ['unmo', 'survey', "
            "'serve']; from unmo_cli.cli import main; main()")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=False)
    assert ran.returncode == 3
    assert f"needs {missing!r}" in ran.stderr and "unmo-cli[survey]" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_keep_alive_answers_are_not_held_back_by_delayed_acks(surveyed):
    """The listening socket is TCP by name, so asyncio sets TCP_NODELAY on each connection;
    without it every answer on a kept-alive connection waited ~40 ms for the client's delayed
    ACK (headers and body go out in two writes)."""
    import statistics
    import time

    from unmo_cli.survey_server import _listen

    listener = _listen("127.0.0.1", 0)
    try:
        assert listener.proto == __import__("socket").IPPROTO_TCP
    finally:
        listener.close()
    _link, url, _m, _d = surveyed
    with httpx.Client(base_url=url) as client:
        took = []
        for _ in range(25):
            began = time.perf_counter()
            client.get("/survey.css")
            took.append(time.perf_counter() - began)
    assert statistics.median(took) < 0.035, took


def test_the_welcome_email_can_carry_the_survey_link(unmo, workspace):
    from datetime import UTC, datetime

    slug = onboard(unmo)["customer"]["slug"]
    port = free_port()
    with smtp_server() as box:
        configure(workspace, box.port, port)
        dry = unmo("email", "send", slug, "welcome", "--with-survey", "--dry-run", "--json")
        assert dry.exit_code == 0 and box.received == []
        assert query("SELECT count(*) FROM survey_invitations") == [(0,)]
        ran = unmo("email", "send", slug, "welcome", "--with-survey", "--json")
        assert ran.exit_code == 0, ran.stderr
        again = unmo("survey", "send", slug, "--json")
    assert again.exit_code == 0 and again.json()["already_sent"] == 1
    assert len(box.received) == 1, "the survey link went out twice"
    message = box.messages()[0]
    assert message["Subject"] == "Welcome to UnMoGrowP, TechStart Mobile"
    assert "Publishable key (live)" in message.get_body(("plain",)).get_content()
    link = survey_link(message)
    assert f'href="{link}"' in message.get_body(("html",)).get_content()
    with survey_server(workspace, port):
        page = http_get(link)
        assert page.status_code == 200
        assert http_post(link, data={**ANSWER, "form_token": form_token(page.text)}
                          ).status_code == 200
    year, week, _ = datetime.now(UTC).isocalendar()
    document = unmo("report", "weekly", "--week", f"{year}-W{week:02d}", "--json").json()
    assert document["surveys"] == {"sent": 1, "answered": 1, "response_rate_pct": 100.0}


def test_a_broken_page_template_stops_serve_before_it_listens(workspace):
    """The page is loaded once, when the server starts: a template override that does not
    compile is one sentence and exit 2 there, not a failure on every page later."""
    import subprocess
    import sys

    (workspace / "unmo.yaml").write_text("survey:\n  public_url: http://127.0.0.1:9\n",
                                         encoding="utf-8")
    page = workspace / "templates" / "survey" / "page.html.j2"
    page.parent.mkdir(parents=True)
    page.write_text("<h1>{{ title </h1>\n", encoding="utf-8")
    ran = subprocess.run([sys.executable, "-m", "unmo_cli", "survey", "serve", "--port", "0"],
                         env={**os.environ, "UNMO_WORKSPACE": str(workspace)},
                         capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 2, ran.stderr
    assert "survey/page.html.j2" in ran.stderr and "syntax error" in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1 and "http://" not in ran.stdout
