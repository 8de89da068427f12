"""Every bad input to `unmo onboard` is one sentence on stderr, exit 2, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support_onboarding import flags, onboard

BAD = [
    ("", {}, "missing required field: NAME"),
    ("   ", {}, "missing required field: NAME"),
    ("日本語", {}, "fold to ASCII"),
    ("!!!", {}, "fold to ASCII"),
    ("Con", {}, "Windows reserves"),
    ("Two\nLines", {}, "line break"),
    ("X" * 201, {}, "at most 200"),
    ("Acme", {"contact_email": "not-an-address"}, "--contact-email 'not-an-address' is not an"),
    ("Acme", {"contact_email": "a@b"}, "is not an e-mail address"),
    ("Acme", {"contact_email": "a b@c.example"}, "is not an e-mail address"),
    ("Acme", {"contact_email": "Ann <ann@c.example>"}, "is not an e-mail address"),
    ("Acme", {"success_manager": "kim@"}, "--success-manager 'kim@'"),
    ("Acme", {"industry": "toys"}, "--industry 'toys' is not one of gaming, ecommerce"),
    ("Acme", {"integration": "api"}, "--integration 'api' is not one of sdk, s2s, hybrid"),
    ("Acme", {"provider": "google"}, "--provider 'google' is not one of"),
    ("Acme", {"platforms": "ios,windows"}, "'windows' is not a platform"),
    ("Acme", {"platforms": ","}, "--platforms must name ios, android or both"),
    ("Acme", {"events_per_day": "0"}, "out of range"),
    ("Acme", {"events_per_day": "-5"}, "not a whole number"),
    ("Acme", {"events_per_day": "1.5"}, "not a whole number"),
    ("Acme", {"events_per_day": "3000000000"}, "out of range"),
    ("Acme", {"mrr": "abc"}, "--mrr 'abc' is not an amount in dollars"),
    ("Acme", {"mrr": "-1"}, "not an amount"),
    ("Acme", {"mrr": "10.001"}, "fractions of a cent"),
    ("Acme", {"mrr": "2000000"}, "out of range"),
    ("Acme", {"mrr": "1e3"}, "not an amount"),
    ("Acme", {"mrr": "2500.0000000000000000000000000001"}, "fractions of a cent"),
    ("Acme", {"mrr": "1e-300"}, "not an amount"),
    ("Acme", {"mrr": "0.0000000000000000000001"}, "fractions of a cent"),
    ("Acme", {"mrr": "0." + "0" * 5000 + "1"}, "fractions of a cent"),
    ("Acme", {"events_per_day": "9" * 5000}, "a number of 5,000 digits is out of range"),
    ("Acme\u202etxt.exe", {}, "a bidirectional control (U+202E)"),
    ("Acme\u2067Games", {}, "a bidirectional control (U+2067)"),
    ("Acme", {"contact_name": "Ann\u200f"}, "a bidirectional control (U+200F)"),
    ("Acme", {"contact_name": "A" * 201}, "at most 200"),
]


@pytest.mark.parametrize("name,overrides,message", BAD,
                         ids=[f"{i}-{m[:20]}" for i, (_, _, m) in enumerate(BAD)])
def test_bad_value_exit_2_and_nothing_written(unmo, workspace: Path, unchanged, name, overrides,
                                              message):
    ran = unmo("onboard", name, *flags(**overrides), "--yes")
    assert ran.exit_code == 2, ran.stdout + ran.stderr
    assert message in ran.stderr
    assert ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1
    assert ran.stdout == ""
    unchanged()


def test_bad_value_in_a_used_workspace_changes_nothing(unmo, workspace: Path):
    onboard(unmo, "First")
    from conftest import snapshot_tables, snapshot_tree

    before = snapshot_tree(workspace), snapshot_tables(workspace)
    ran = unmo("onboard", "Second", *flags(mrr="lots"))
    assert ran.exit_code == 2
    assert (snapshot_tree(workspace), snapshot_tables(workspace)) == before


def test_missing_fields_are_all_listed_at_once(unmo, workspace: Path, unchanged):
    ran = unmo("onboard", "Acme", "--integration", "hybrid")
    assert ran.exit_code == 2
    assert ("missing required fields: --contact-name, --contact-email, --industry, "
            "--platforms, --events-per-day, --provider, --mrr") in ran.stderr
    ran = unmo("onboard")
    assert ran.exit_code == 2 and "NAME" in ran.stderr and "--integration" in ran.stderr
    unchanged()


def test_platforms_only_required_for_sdk_and_hybrid(unmo, workspace: Path):
    ran = unmo("onboard", "Acme", *flags(platforms=None), "--json")
    assert ran.exit_code == 2 and "--platforms" in ran.stderr
    doc = onboard(unmo, "Server Only", "s2s")
    assert doc["customer"]["platforms"] == []


def test_platforms_are_refused_for_s2s(unmo, workspace: Path, unchanged, tmp_path: Path):
    ran = unmo("onboard", "Server Only", *flags("s2s", platforms="ios"), "--yes")
    assert ran.exit_code == 2, ran.stdout + ran.stderr
    assert ran.stderr == ("error: --platforms is only for sdk and hybrid integrations; drop it "
                          "for an s2s customer.\n")
    records = tmp_path / "servers.yaml"
    records.write_text("- {name: Server One, contact_name: Ops, contact_email: ops@one.example,"
                       " industry: other, integration: s2s, platforms: [android],"
                       " events_per_day: 10, provider: none, mrr: 1}\n")
    ran = unmo("onboard", "--from", str(records), "--yes")
    assert ran.exit_code == 2
    assert "record 1 (Server One): platforms is only for sdk and hybrid" in ran.stderr
    unchanged()


@pytest.mark.parametrize("taken", ["TechStart Mobile", "techstart mobile", "TECHSTART-MOBILE",
                                   "Techstart.Mobile!", "Téchstart Mobile", "TechStartMobile"])
def test_names_differing_by_case_or_punctuation_collide(unmo, workspace: Path, taken):
    onboard(unmo, "TechStart Mobile")
    from conftest import snapshot_tables, snapshot_tree

    before = snapshot_tree(workspace), snapshot_tables(workspace)
    ran = unmo("onboard", taken, *flags())
    assert ran.exit_code == 2
    assert "already onboarded as 'TechStart Mobile' (techstart-mobile)" in ran.stderr
    assert (snapshot_tree(workspace), snapshot_tables(workspace)) == before


def test_database_unique_constraint_is_the_last_word(workspace: Path):
    """Two onboardings racing past the pre-flight check: the database refuses the second."""
    from unmo_cli.errors import InputError
    from unmo_cli.services import onboarding
    from unmo_cli.workspace import load_workspace

    ws = load_workspace()
    raw = dict(zip(["name"] + [f.lstrip("-").replace("-", "_") for f in flags()[0::2]],
                   ["Racer", *flags()[1::2]], strict=True))
    onboarding.onboard(ws, raw)
    original = onboarding.preflight
    onboarding.preflight = lambda *args: None  # the race: both passed the check
    try:
        with pytest.raises(InputError, match="already onboarded"):
            onboarding.onboard(ws, {**raw, "name": "RACER!"})
    finally:
        onboarding.preflight = original
    from conftest import query

    assert query("SELECT count(*) FROM customers") == [(1,)]
    assert query("SELECT count(*) FROM api_keys") == [(4,)]
    assert sorted(p.name for p in (workspace / "customers").iterdir()) == ["racer"]


def test_a_folder_without_a_record_is_refused(unmo, workspace: Path, unchanged_after_folder):
    ran = unmo("onboard", "TechStart Mobile", *flags())
    assert ran.exit_code == 2
    assert "customers/techstart-mobile already exists but no customer" in ran.stderr
    unchanged_after_folder()


@pytest.fixture
def unchanged_after_folder(workspace: Path):
    (workspace / "customers" / "techstart-mobile").mkdir(parents=True)
    (workspace / "customers" / "techstart-mobile" / "notes.txt").write_text("mine")
    from conftest import snapshot_tables, snapshot_tree

    before = snapshot_tree(workspace), snapshot_tables(workspace)

    def check() -> None:
        assert (snapshot_tree(workspace), snapshot_tables(workspace)) == before

    return check


def test_lenient_but_exact_value_forms(unmo, workspace: Path):
    doc = onboard(unmo, "Forms Inc", "sdk", mrr="$2,500.5", events_per_day="1_000_000",
                  platforms="Android, IOS", industry="GAMING",
                  contact_email="Ann.Lee+cs@Forms.EXAMPLE")
    customer = doc["customer"]
    assert customer["mrr"] == "2500.50"
    assert customer["events_per_day"] == 1_000_000
    assert customer["platforms"] == ["ios", "android"]
    assert customer["industry"] == "gaming"
    assert customer["contact_email"] == "Ann.Lee+cs@forms.example"


@settings(max_examples=200, deadline=None)
@given(whole=st.integers(0, 10**6), cents=st.integers(0, 99), zeros=st.integers(0, 3000),
       digit=st.integers(1, 9), padding=st.integers(0, 5))
def test_an_amount_with_more_than_cents_is_refused_however_many_digits(whole, cents, zeros,
                                                                        digit, padding):
    """The cents check is made on the digits as written: a nonzero digit anywhere after the
    second decimal is refused, even 3,000 digits out (Decimal's 28-digit context rounded it)."""
    from unmo_cli.services.onboarding import FieldError, parse_mrr

    text = f"{whole}.{cents:02d}{'0' * zeros}{digit}{'0' * padding}"
    with pytest.raises(FieldError, match="fractions of a cent"):
        parse_mrr(text)
    assert parse_mrr(f"{min(whole, 10**6 - 1)}.{cents:02d}{'0' * zeros}") == \
        min(whole, 10**6 - 1) * 100 + cents


LOOK_ALIKES = [
    ("Acme", "\u0410cme"),             # Cyrillic capital A
    ("Acme", "\u0430cme"),             # Cyrillic small a (and the case differs)
    ("Acme Games", "\u0410\u0441me Games"),  # Cyrillic A and s
    ("Acme", "Acrne"),                 # rn for m
    ("Paypal", "P\u0430yp\u0430l"),
    ("Globex", "Gl\u03bfbex"),          # Greek omicron for o
]


@pytest.mark.parametrize("existing, look_alike", LOOK_ALIKES)
def test_a_name_confusable_with_a_customer_is_refused(unmo, workspace: Path, existing: str,
                                                       look_alike: str):
    """Per Unicode's confusable skeleton (UTS #39), like a case duplicate: exit 2, nothing
    written, the customer it looks like named; from flags and from a --from file alike."""
    from conftest import snapshot_tables, snapshot_tree

    onboard(unmo, existing)
    before = snapshot_tree(workspace), snapshot_tables(workspace)
    ran = unmo("onboard", look_alike, *flags(), "--yes")
    assert ran.exit_code == 2, ran.stdout + ran.stderr
    assert f"looks like {existing!r}" in ran.stderr and "confusable" in ran.stderr
    assert ran.stderr.count("\n") == 1
    assert (snapshot_tree(workspace), snapshot_tables(workspace)) == before


def test_confusable_names_inside_one_file_are_refused(unmo, workspace: Path, tmp_path: Path,
                                                      unchanged):
    import json

    record = dict(zip([f.lstrip("-").replace("-", "_") for f in flags()[0::2]], flags()[1::2],
                      strict=True))
    path = tmp_path / "pilots.json"
    path.write_text(json.dumps([{**record, "name": "Acme"}, {**record, "name": "\u0410cme"}]),
                    encoding="utf-8")
    ran = unmo("onboard", "--from", str(path))
    assert ran.exit_code == 2
    assert "record 2 (\u0410cme): looks like record 1" in ran.stderr
    unchanged()


def test_names_that_only_share_letters_are_not_look_alikes(unmo, workspace: Path):
    onboard(unmo, "Acme")
    for name in ("Acne", "Acme 2", "Acmé Labs", "\u0410\u0431\u0432"):  # Абв: another word
        ran = unmo("onboard", name, *flags(), "--yes")
        assert ran.exit_code in (0, 2), ran.stderr
        assert "looks like" not in ran.stderr, (name, ran.stderr)
