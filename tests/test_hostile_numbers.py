"""Bad numbers, dates and ids at every boundary are exit 2 with one sentence on stderr, never
"unexpected …; this is a bug" (exit 3), and write nothing: every numeric, date or id option of
the real CLI, the numbers in `--from` files and import files, and the numeric settings in
unmo.yaml and the environment, each given values hypothesis draws from the invalid side only
(out of range, thousands of digits, NaN and infinities, fractions where whole numbers go, dates
that overflow when converted to UTC, documents nested thousands of levels deep)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import snapshot_tables, snapshot_tree
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support_onboarding import flags, onboard

from unmo_cli.services.health import MAX_CONCURRENCY, MAX_RETRIES
from unmo_cli.services.onboarding import MAX_EVENTS_PER_DAY

FUZZ = settings(max_examples=20, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

HUGE = "9" * 5000  # past Python's 4,300-digit int/str conversion limit
NON_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity", "-Infinity", "1e999999", "-1e400"]
NOT_NUMBERS = ["", " ", "abc", "1.2.3", "0x1F", "1e", "--", "١٢x", "\x00", "\udcff", "½"]

# Digits and signs: more digits than any number unmo holds, or values past a range.
many_digits = st.text("0123456789", min_size=31, max_size=6000).map(lambda d: "1" + d)
signed_many_digits = st.tuples(st.sampled_from(["", "-", "+"]), many_digits).map("".join)


def outside(low: int, high: int) -> st.SearchStrategy[str]:
    """Whole numbers (as text) below `low` or above `high`, small and huge."""
    return st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1),
                     st.integers(min_value=10**30, max_value=10**400)).map(str) | \
        signed_many_digits.filter(lambda t: not t.startswith("-") or low > -(10**30))


def not_whole(low: int, high: int) -> st.SearchStrategy[str]:
    """Values a whole-number option must refuse: outside the range, fractions, non-finite
    numbers and text that is no number."""
    fractions = st.floats(min_value=low, max_value=high, allow_nan=False).filter(
        lambda f: not f.is_integer()).map(repr)
    return st.one_of(outside(low, high), fractions, st.sampled_from(NON_FINITE + NOT_NUMBERS))


# Amounts with a nonzero digit after the cents, however far out, and other non-amounts.
sub_cent = st.builds(lambda whole, cents, zeros, digit: f"{whole}.{cents:02d}{'0' * zeros}{digit}",
                     st.integers(0, 999_999), st.integers(0, 99), st.integers(0, 400),
                     st.integers(1, 9))
bad_amounts = st.one_of(sub_cent, st.sampled_from(
    NON_FINITE + NOT_NUMBERS + ["1e-300", "0.0000000000000000000001", "2500.001", "-5",
                                "1000000.01", "2.5e3", HUGE, f"0.{'0' * 5000}1"]),
    signed_many_digits)


def utc_overflow() -> st.SearchStrategy[str]:
    """ISO 8601 times that exist in their own offset but not in UTC: before year 1 or past
    9999 once the offset is taken off."""
    early = st.builds(lambda h, m, extra: f"0001-01-01T{h:02d}:{m:02d}:00+{h + 1 + extra:02d}:00",
                      st.integers(0, 12), st.integers(0, 59), st.integers(0, 9))
    late = st.builds(lambda h, extra: f"9999-12-31T{23 - h:02d}:30:00-{h + 1 + extra:02d}:00",
                     st.integers(0, 12), st.integers(0, 9))
    other_years = st.builds(lambda y, t: f"{y:04d}-06-01T00:00:00{t}",
                            st.one_of(st.integers(1, 1899), st.just(9999)),
                            st.sampled_from(["Z", "+05:00", ""]))
    return st.one_of(early, late, other_years)


bad_instants = st.one_of(utc_overflow(), st.sampled_from(
    ["not a date", "2026-13-01", "2026-02-30T00:00:00Z", "10000-01-01", HUGE, "\x00",
     "2026-11-23T10:00:00+25:00", "0000-01-01T00:00:00Z"]))


def judge(ran, before, workspace: Path) -> None:
    """Exit 2; stderr is the one error sentence (or Click's usage block, whose last line is the
    sentence), with no traceback and no "bug"; and nothing was written."""
    assert ran.exit_code == 2, (ran.exit_code, ran.stderr[-600:])
    assert "Traceback" not in ran.stderr and "bug" not in ran.stderr, ran.stderr[-2000:]
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("error: ", "Error: "))]
    assert len(errors) == 1 and lines[-1] == errors[0], ran.stderr[:2000]
    if lines[0].startswith("error: "):
        assert len(lines) == 1, ran.stderr[:2000]
    assert len(errors[0]) < 800, errors[0][:2000]  # a long value is quoted cut short
    assert state(workspace) == before, "a refused input wrote something"


def state(workspace: Path):
    return snapshot_tree(workspace), snapshot_tables(workspace)


@pytest.fixture
def acme(module_workspaces, workspace: Path) -> str:
    """Acme onboarded, with one feedback and its alert: built once for the module, a copy for
    each test."""
    return module_workspaces.copy(_onboard_acme, workspace)


def _onboard_acme(unmo) -> str:
    onboard(unmo, "Acme")
    ran = unmo("feedback", "add", "acme", "--satisfaction", "3", "--nps", "2", "--id", "s-1")
    assert ran.exit_code == 0, ran.stderr  # and one alert (#1), for `alerts ack`
    return "acme"


def _flags_without(name: str) -> list[str]:
    return flags("sdk", **{name: None})


# --- options -------------------------------------------------------------------------------------


def test_onboard_events_per_day(unmo, workspace: Path, acme: str):
    @FUZZ
    @example(HUGE)
    @example("99999999999999999999999")
    @example(str(MAX_EVENTS_PER_DAY + 1))
    @given(value=not_whole(1, MAX_EVENTS_PER_DAY))
    def run(value: str) -> None:
        before = state(workspace)
        ran = unmo("onboard", "Fuzz Co", *_flags_without("events_per_day"),
                   f"--events-per-day={value}", "--yes")
        judge(ran, before, workspace)

    run()


def test_onboard_mrr(unmo, workspace: Path, acme: str):
    @FUZZ
    @example("2500.001")
    @example("1e-300")
    @example("0.0000000000000000000001")
    @example("2500.0000000000000000000000000001")  # past Decimal's 28 digits of precision
    @given(value=bad_amounts)
    def run(value: str) -> None:
        before = state(workspace)
        ran = unmo("onboard", "Fuzz Co", *_flags_without("mrr"), f"--mrr={value}", "--yes")
        judge(ran, before, workspace)

    run()


@pytest.mark.parametrize("option, low, high", [("--satisfaction", 1, 10), ("--nps", 0, 10)])
def test_feedback_scores(unmo, workspace: Path, acme: str, option: str, low: int, high: int):
    @FUZZ
    @example(HUGE)
    @given(value=not_whole(low, high).filter(lambda v: v.strip() != "" or option != "--nps"))
    def run(value: str) -> None:
        before = state(workspace)
        args = ["--satisfaction", "8"] if option == "--nps" else []
        ran = unmo("feedback", "add", acme, *args, f"{option}={value}")
        judge(ran, before, workspace)

    run()


def test_feedback_received_at(unmo, workspace: Path, acme: str):
    @FUZZ
    @example("0001-01-01T00:00:00+14:00")
    @example("9999-12-31T23:59:59-14:00")
    @given(value=bad_instants)
    def run(value: str) -> None:
        before = state(workspace)
        ran = unmo("feedback", "add", acme, "--satisfaction", "8", f"--received-at={value}")
        judge(ran, before, workspace)

    run()


def test_unmo_now(unmo, workspace: Path, acme: str):
    """UNMO_NOW pins "now" for every command: one the report's 8 weeks or the 60-day windows
    cannot reach back from (0001-01-03), or past 9998, is refused, not an OverflowError."""
    @FUZZ
    @example(value="0001-01-03T00:00:00Z", args=("report", "weekly", "--format", "json"))
    @example(value="0001-01-03T00:00:00Z", args=("customer", "show", "acme"))
    @example(value="9999-12-31T23:59:59Z", args=("report", "weekly", "--format", "json"))
    @given(value=bad_instants.filter(lambda v: "\x00" not in v), args=st.sampled_from([
        ("report", "weekly", "--format", "json"), ("customer", "show", "acme"),
        ("feedback", "add", "acme", "--satisfaction", "3")]))
    def run(value: str, args: tuple[str, ...]) -> None:
        before = state(workspace)
        judge(unmo(*args, env={"UNMO_NOW": value}), before, workspace)

    run()


def test_feedback_list_since_and_limit(unmo, workspace: Path, acme: str):
    east = {"UNMO_TIMEZONE": "Asia/Tokyo"}  # +9:19 (local mean time) in year 1: before year 1

    @FUZZ
    @example("0001-01-01")
    @given(value=bad_instants)
    def since(value: str) -> None:
        before = state(workspace)
        judge(unmo("feedback", "list", f"--since={value}", env=east), before, workspace)

    @FUZZ
    @example("99999999999999999999999")
    @example(HUGE)
    @given(value=outside(1, 1_000_000_000))
    def limit(value: str) -> None:
        before = state(workspace)
        judge(unmo("feedback", "list", f"--limit={value}"), before, workspace)

    since()
    limit()


def test_alerts_ack_ids(unmo, workspace: Path, acme: str):
    @FUZZ
    @example("99999999999999999999999")
    @example(HUGE)
    @example(str(2**31))
    @example(str(2**63))
    @given(value=st.one_of(outside(1, 1000), st.sampled_from(NON_FINITE + NOT_NUMBERS[2:]),
                           st.integers(2**31 - 1, 2**64).map(str)))
    def run(value: str) -> None:
        before = state(workspace)
        judge(unmo("alerts", "ack", "--", value), before, workspace)

    run()


def test_report_week(unmo, workspace: Path, acme: str):
    @FUZZ
    @example("9999-W52")
    @example(f"{HUGE}-W01")
    @example("2026-W" + HUGE)
    @given(value=st.one_of(
        st.builds(lambda y, w: f"{y}-W{w:02d}", st.integers(10_000, 10**40), st.integers(1, 52)),
        st.builds(lambda y, w: f"{y:04d}-W{w:02d}", st.integers(2000, 2030), st.integers(54, 99)),
        st.sampled_from(NON_FINITE + NOT_NUMBERS[2:])))  # a blank --week is the default
    def run(value: str) -> None:
        before = state(workspace)
        judge(unmo("report", "weekly", f"--week={value}", env={"UNMO_NOW": "2026-11-25T12:00:00Z"}),
              before, workspace)

    run()


@pytest.mark.parametrize("option, values", [
    ("--timeout", st.one_of(st.sampled_from(NON_FINITE + ["0", "-1", "601", "1e308", HUGE]),
                            st.floats(max_value=0, allow_nan=False).map(repr))),
    ("--concurrency", outside(1, MAX_CONCURRENCY)),
    ("--retries", outside(0, MAX_RETRIES)),
])
def test_health_options(unmo, workspace: Path, acme: str, option: str, values):
    @FUZZ
    @given(value=values)
    def run(value: str) -> None:
        before = state(workspace)
        judge(unmo("health", f"{option}={value}", "--no-record"), before, workspace)

    run()


@pytest.mark.parametrize("option, low, high", [("--port", 0, 65535), ("--slow-ms", 0, 3_600_000),
                                               ("--latency-ms", 0, 3_600_000)])
def test_sandbox_options(unmo, workspace: Path, monkeypatch, option: str, low: int, high: int):
    """Only values outside the range. In this process, with the server's loop replaced: a value
    wrongly accepted starts the server, which would block the test run; here it is recorded
    instead, and the command exits 0 (judge wants 2)."""
    from unmo_cli.services import sandbox

    served: list[str] = []
    monkeypatch.setattr(sandbox.SandboxServer, "serve_forever",
                        lambda server, *args, **kwargs: served.append(server.url))

    @settings(FUZZ, max_examples=8)
    @given(value=outside(low, high))
    def run(value: str) -> None:
        served.clear()
        before = state(workspace)
        ran = unmo("sandbox", "--quiet", f"{option}={value}",
                   *(["--port=0"] if option != "--port" else []))
        assert not served, f"sandbox {option}={value[:40]} was accepted: it served"
        judge(ran, before, workspace)

    run()


# --- files and settings ------------------------------------------------------------------------

HOSTILE_DOCUMENT_NUMBERS = st.sampled_from(
    [HUGE, "-" + HUGE, "1e999999", "NaN", "Infinity", "-Infinity", "1.5", "1e-300",
     "0.0000000000000000000001", "2500.001", "2500.0000000000000000000000000001"])


def test_numbers_in_an_onboarding_file(unmo, workspace: Path, acme: str):
    """JSON and YAML, a number where events_per_day or mrr goes, and documents nested far too
    deep."""
    record = {"name": "Fuzz Co", "contact_name": "Ops", "contact_email": "ops@fuzz.example",
              "industry": "gaming", "integration": "sdk", "platforms": "ios",
              "events_per_day": 5000, "provider": "none", "mrr": 100}

    @FUZZ
    @example(field="events_per_day", number=HUGE, suffix=".json")
    @example(field="mrr", number="2500.0000000000000000000000000001", suffix=".yaml")
    @example(field="mrr", number="Infinity", suffix=".json")
    @given(field=st.sampled_from(["events_per_day", "mrr"]), number=HOSTILE_DOCUMENT_NUMBERS,
           suffix=st.sampled_from([".json", ".yaml"]))
    def run(field: str, number: str, suffix: str) -> None:
        if field == "mrr" and number == "1.5":
            number = "1.505"
        text = json.dumps({**record, field: "@"}).replace('"@"', number)
        if suffix == ".yaml" and number in ("NaN", "Infinity", "-Infinity"):
            text = text.replace(number, {"NaN": ".nan", "Infinity": ".inf"}.get(number, "-.inf"))
        source = workspace.parent / f"pilots{suffix}"
        source.write_text(text, encoding="utf-8")
        before = state(workspace)
        judge(unmo("onboard", "--from", str(source)), before, workspace)

    run()
    for suffix, text in ((".json", "[" * 100_000), (".yaml", "- " + "[" * 100_000),
                         (".json", '{"name": ' + "[" * 5000 + "]" * 5000 + "}")):
        source = workspace.parent / f"deep{suffix}"
        source.write_text(text, encoding="utf-8")
        before = state(workspace)
        judge(unmo("onboard", "--from", str(source)), before, workspace)


def _judge_import(ran, before, workspace: Path) -> None:
    """An import refused: `FILE:LINE: problem` lines, then the one error sentence."""
    assert ran.exit_code == 2, (ran.exit_code, ran.stderr[-600:])
    assert "Traceback" not in ran.stderr and "bug" not in ran.stderr, ran.stderr[-2000:]
    lines = ran.stderr.splitlines()
    assert lines and lines[-1].startswith("error: "), ran.stderr[:2000]
    assert all(":" in line for line in lines[:-1])
    assert state(workspace) == before


def test_numbers_and_times_in_an_import_file(unmo, workspace: Path, acme: str):
    @FUZZ
    @example(fmt="json", field="satisfaction", value=HUGE)
    @example(fmt="jsonl", field="received_at", value='"0001-01-01T00:00:00+14:00"')
    @example(fmt="csv", field="received_at", value="9999-12-31T23:59:59-14:00")
    @example(fmt="json", field="nps", value="NaN")
    @given(fmt=st.sampled_from(["csv", "json", "jsonl"]),
           field=st.sampled_from(["satisfaction", "nps", "received_at"]),
           value=st.one_of(HOSTILE_DOCUMENT_NUMBERS, utc_overflow().map(json.dumps)))
    def run(fmt: str, field: str, value: str) -> None:
        if field == "received_at" and not value.startswith('"'):
            value = json.dumps(value)  # a number where a time goes is refused as well
        row = {"customer": "acme", "satisfaction": 8, "id": "fuzz-1"}
        if fmt == "csv":
            cell = json.loads(value) if value.startswith('"') else value
            text = f"customer,satisfaction,{field},id\nacme,8,{cell},fuzz-1\n"
            if field == "satisfaction":
                text = f"customer,satisfaction,id\nacme,{cell},fuzz-1\n"
        else:
            document = json.dumps({**row, field: "@"}).replace('"@"', value)
            text = f"[{document}]" if fmt == "json" else document + "\n"
        source = workspace.parent / f"survey.{fmt}"
        source.write_text(text, encoding="utf-8")
        before = state(workspace)
        _judge_import(unmo("feedback", "import", str(source)), before, workspace)

    run()
    for fmt, text in (("json", "[" * 100_000), ("jsonl", "[" * 100_000 + "\n"),
                      ("json", '[{"customer": "acme", "satisfaction": 8, "comment": '
                               + "[" * 5000 + "]" * 5000 + "}]")):
        source = workspace.parent / f"deep.{fmt}"
        source.write_text(text, encoding="utf-8")
        before = state(workspace)
        _judge_import(unmo("feedback", "import", str(source)), before, workspace)


NUMERIC_SETTINGS = ["api.timeout_s", "alerts.satisfaction_below", "alerts.drop_points",
                    "alerts.health_failure_threshold", "targets.nps", "targets.mrr",
                    "finance.infra_cost_per_week", "health_score.weight_technical"]
YAML_NUMBERS = st.sampled_from([".inf", "-.inf", ".nan", ".NaN", "1.0e+400", HUGE, "-" + HUGE,
                                "1e13", "'nan'", "'inf'", "10000000000000"])


def test_numbers_in_settings(unmo, workspace: Path, acme: str):
    """unmo.yaml's numeric settings and UNMO_API_TIMEOUT: non-finite or absurd numbers are
    refused by name, so no NaN reaches the report's JSON."""
    config = workspace / "unmo.yaml"

    @FUZZ
    @example(key="finance.infra_cost_per_week", number=".inf")
    @example(key="finance.infra_cost_per_week", number=".nan")
    @example(key="alerts.health_failure_threshold", number=HUGE)
    @given(key=st.sampled_from(NUMERIC_SETTINGS), number=YAML_NUMBERS)
    def run(key: str, number: str) -> None:
        section, name = key.split(".")
        config.write_text(f"{section}:\n  {name}: {number}\n", encoding="utf-8")
        try:
            for args in (("config", "show", "--json"), ("report", "weekly", "--format", "json")):
                ran = unmo(*args, env={"UNMO_NOW": "2026-11-25T12:00:00Z"})
                assert ran.exit_code == 2, (key, number, ran.exit_code, ran.stdout[-300:])
                assert "Traceback" not in ran.stderr and "bug" not in ran.stderr
                assert len(ran.stderr.splitlines()) == 1 and key in ran.stderr, ran.stderr[:500]
        finally:
            config.unlink()

    run()
    for value in ("nan", "inf", "-inf", "1e400", HUGE, "NaN"):
        before = state(workspace)
        ran = unmo("config", "show", "--json", env={"UNMO_API_TIMEOUT": value})
        judge(ran, before, workspace)


def test_json_output_refuses_non_finite_numbers(unmo, workspace: Path, acme: str):
    """The safety net behind the settings check: unmo's JSON writer raises on NaN or an
    infinity instead of printing `NaN`, which strict readers (jq, browsers) reject; and the
    report's JSON parses with a reader that refuses those tokens."""
    from unmo_cli.console import to_json

    for number in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError):
            to_json({"figure": number})
    assert json.loads(to_json({"figure": 1.5})) == {"figure": 1.5}
    config = workspace / "unmo.yaml"
    config.write_text(yaml.safe_dump({"finance": {"infra_cost_per_week": 0.000001},
                                      "targets": {"mrr": 1e11}}), encoding="utf-8")
    ran = unmo("report", "weekly", "--format", "json", env={"UNMO_NOW": "2026-11-25T12:00:00Z"})
    assert ran.exit_code == 0, ran.stderr

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in the report's JSON")

    json.loads(ran.stdout, parse_constant=refuse)


@pytest.mark.parametrize("text", ["api_base_url: " + HUGE, "api_base_url: .inf"])
def test_a_recorded_api_url_that_is_not_text_is_refused_naming_the_file(
        unmo, workspace: Path, acme: str, text: str):
    """The URL customer.yaml records is what a re-render writes into the customer's files: a
    number there (5,000 digits, .inf) is refused in one sentence naming the file and the key
    (exit 2), like any URL that could not be written safely, and nothing is written."""
    record = workspace / "customers" / "acme" / "customer.yaml"
    record.write_text(text + "\n")
    for args in (("--check",), ()):
        ran = unmo("customer", "render", "acme", *args)
        assert ran.exit_code == 2, ran.stderr
        assert len(ran.stderr.strip().splitlines()) == 1
        assert "customer.yaml" in ran.stderr and "api_base_url" in ran.stderr
        assert "bug" not in ran.stderr and "Traceback" not in ran.stderr
    assert record.read_text() == text + "\n"


@pytest.mark.parametrize("text", ["a: " + "[" * 5000, "a: " + "[" * 999 + "]" * 999])
def test_a_mangled_customer_yaml_is_drift_not_a_crash(unmo, workspace: Path, acme: str,
                                                      text: str):
    """customer.yaml is read back for the API URL it records: one edited out of shape (brackets
    5,000 deep) is a file that drifted, never exit 3."""
    (workspace / "customers" / "acme" / "customer.yaml").write_text(text + "\n")
    ran = unmo("customer", "render", "acme", "--check")
    assert ran.exit_code == 1, ran.stderr
    assert "customer.yaml" in ran.stderr and "bug" not in ran.stderr
    ran = unmo("customer", "render", "acme")
    assert ran.exit_code == 0, ran.stderr
    assert unmo("customer", "render", "acme", "--check").exit_code == 0
