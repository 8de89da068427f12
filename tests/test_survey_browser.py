"""The survey as a person answers it: headless Chromium (Debian's, driven by Playwright through
the DevTools protocol) opens the link that arrived by e-mail at phone width, answers with the
keyboard and the pointer, sends the form; the test then finds the feedback row and the alert.
A screenshot of the page at 390 px is kept as test output (its path is printed).

Needs chromium and playwright: in CI (CI=true) their absence fails the test; locally it skips."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import query
from support_ci import skip_or_fail
from support_onboarding import onboard
from support_smtp import smtp_server
from support_survey import configure, free_port, survey_link, survey_server

OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
PHONE = {"width": 390, "height": 844}


def _chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium"
                                         if Path("/usr/bin/chromium").exists() else None)
    why = None
    if found is None:
        why = "chromium is not installed (.ci/run installs the Debian package)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "playwright is not installed (the test extra has it)"
    if why is not None:
        skip_or_fail(why)
    assert found is not None
    return found


@pytest.mark.slow
def test_a_person_answers_the_survey_on_a_phone(unmo, workspace, capsys):
    from playwright.sync_api import sync_playwright

    browser_path = _chromium()
    slug = onboard(unmo)["customer"]["slug"]
    port = free_port()
    with smtp_server() as box:
        configure(workspace, box.port, port)
        assert unmo("survey", "send", slug).exit_code == 0
    link = survey_link(box.messages()[0])
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "survey-phone-390.png"
    with survey_server(workspace, port), sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=browser_path,
                                         args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
            response = page.goto(link)
            assert response is not None and response.status == 200
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            satisfaction = page.get_by_role("group", name=re.compile("How satisfied"))
            nps = page.get_by_role("group", name=re.compile("recommend"))
            # Every choice is a labelled radio button, large enough for a finger.
            assert satisfaction.get_by_role("radio").count() == 10
            assert nps.get_by_role("radio").count() == 11
            box_of_3 = satisfaction.locator("label", has_text=re.compile(r"^3$")).bounding_box()
            assert box_of_3 is not None and box_of_3["height"] >= 44
            page.screenshot(path=str(shot), full_page=True)
            satisfaction.get_by_label("3", exact=True).check()
            # The keyboard reaches the NPS scale: focus 0, arrow to 2.
            nps.get_by_label("0", exact=True).focus()
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            assert nps.get_by_label("2", exact=True).is_checked()
            page.get_by_role("group", name=re.compile("What is it")).get_by_label(
                re.compile("^Support")).check()
            page.get_by_label(re.compile("Anything you want")).fill("The SDK docs <b>lie</b>")
            page.get_by_role("button", name="Send my answer").click()
            page.wait_for_load_state()
            assert page.get_by_role("status").inner_text().startswith("Your answer is recorded")
            assert not page.context.cookies()  # nothing kept in the browser
        finally:
            browser.close()
    with capsys.disabled():
        print(f"\nsurvey page at phone width: {shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == PHONE["width"]
    assert query("SELECT satisfaction, nps, category, comment, source FROM feedback") == [
        (3, 2, "support", "The SDK docs <b>lie</b>", "survey")]
    rules = sorted(row[0] for row in query("SELECT rule FROM alerts"))
    assert rules == ["detractor", "low_satisfaction"]
