"""Property tests: slugs are always safe folder names, answers survive the round trip into the
record, customer.yaml and welcome.eml."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from unmo_cli.errors import InputError
from unmo_cli.services import onboarding
from unmo_cli.services.customer_folder import FolderKeys, render_customer_folder

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Any text, weighted towards the characters names and markup are made of.
names = st.text(st.one_of(st.characters(blacklist_categories=("Cs",)),
                          st.sampled_from("aZ09 -.&<>\"'{}%#:éßØ")), min_size=1, max_size=80)
emails = st.emails().filter(lambda e: len(e) <= 254 and len(e.split("@")[0]) <= 64)


@settings(max_examples=50, deadline=None)
@given(names)
def test_slug_is_a_safe_folder_name(name: str):
    slug = onboarding.slugify(name)
    assert slug == "" or SLUG_RE.fullmatch(slug)
    assert len(slug) <= onboarding.MAX_SLUG
    assert onboarding.slugify(slug) == slug
    assert onboarding.name_key(name).startswith(onboarding.name_key(slug))
    assert onboarding.name_key(name.upper()) == onboarding.name_key(name.lower()) or \
        not name.isascii()


@settings(max_examples=50, deadline=None)
@given(names)
def test_parse_name_accepts_or_explains(name: str):
    try:
        parsed = onboarding.parse_name(name)
    except onboarding.FieldError as exc:
        assert str(exc)  # one sentence, never a crash
        return
    assert parsed == " ".join(name.split()) and onboarding.slugify(parsed)


@settings(max_examples=50, deadline=None)
@given(emails)
def test_generated_addresses_are_accepted(address: str):
    local, _, domain = address.rpartition("@")
    assert onboarding.parse_email(address) == f"{local}@{domain.lower()}"


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=onboarding.MAX_MRR_CENTS))
def test_mrr_round_trips_in_cents(cents: int):
    assert onboarding.parse_mrr(f"{cents // 100}.{cents % 100:02d}") == cents
    assert onboarding.parse_mrr(f"${cents // 100:,}.{cents % 100:02d}") == cents


@settings(max_examples=50, deadline=None)
@given(name=names, contact=names, address=emails)
def test_answers_round_trip_through_the_rendered_folder(name: str, contact: str, address: str):
    """Whatever is accepted comes back unchanged from customer.yaml and welcome.eml, and HTML
    in it is escaped."""
    try:
        item = onboarding.validate({
            "name": name, "contact_name": contact, "contact_email": address,
            "industry": "other", "integration": "hybrid", "platforms": "ios,android",
            "events_per_day": 1, "provider": "none", "mrr": "1"})
    except InputError:
        return
    profile = onboarding._profile(item, datetime(2026, 1, 5, tzinfo=UTC))
    keys = FolderKeys(publishable={"live": "unmo_pk_live_" + "0" * 28,
                                   "test": "unmo_pk_test_" + "0" * 28},
                      secret_hints={"live": "unmo_sk_live_…0000", "test": "unmo_sk_test_…0000"})
    files = render_customer_folder(TEMPLATES, profile, keys, "http://127.0.0.1:8787/v1")
    assert SLUG_RE.fullmatch(item.slug)
    answers = yaml.safe_load(files["customer.yaml"])
    assert answers["name"] == item.name and answers["contact_name"] == item.contact_name
    assert answers["contact_email"] == item.contact_email
    message = email.message_from_bytes(files["email/welcome.eml"], policy=email.policy.default)
    to = message["To"].addresses[0]
    assert to.addr_spec.lower() == item.contact_email.lower()
    assert to.display_name in (item.contact_name, "")
    html = files["email/welcome.html"].decode()
    if "<" in item.name:
        assert item.name not in html


def test_onboarding_a_generated_name_through_the_cli(unmo, workspace: Path):
    """One awkward name end to end: the record, the folder and the JSON agree."""
    name = "  Zoë's  \"Café\" — <b>Apps</b> #1: {{ x }}  "
    ran = unmo("onboard", name, "--contact-name", "Ann", "--contact-email", "ann@x.example",
               "--industry", "other", "--integration", "s2s", "--events-per-day", "1",
               "--provider", "none", "--mrr", "1", "--json")
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json()
    expected = "Zoë's \"Café\" — <b>Apps</b> #1: {{ x }}"
    assert doc["customer"]["name"] == expected
    assert doc["customer"]["slug"] == "zoe-s-cafe-b-apps-b-1-x"
    answers = yaml.safe_load((workspace / doc["directory"] / "customer.yaml").read_text())
    assert answers["name"] == expected
