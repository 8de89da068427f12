"""One money format for people ($2,500.50, always with the cents) and one for machines (the
decimal string "2500.50" in JSON, exact to the cent), from unmo_cli/money.py, in every command
that shows an amount."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support_onboarding import onboard

from unmo_cli import money

PEOPLE = re.compile(r"−?\$\d{1,3}(,\d{3})*\.\d\d")


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_both_forms_are_exact_to_the_cent(cents: int):
    machine = money.for_machines(cents)
    assert re.fullmatch(r"-?\d+\.\d\d", machine)
    assert money.cents_of(machine) == cents
    assert Decimal(machine) * 100 == cents
    person = money.for_people(cents)
    assert PEOPLE.fullmatch(person)
    assert int(re.sub(r"[^\d]", "", person)) == abs(cents)


@given(st.one_of(st.integers(), st.integers(-10**30, 10**30), st.integers(-10**4, 10**4)))
def test_machine_text_is_the_decimal_s(cents: int):
    """for_machines writes most amounts by integer division: the text the Decimal gives."""
    assert money.for_machines(cents) == f"{Decimal(cents).scaleb(-2):.2f}"


@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                 st.integers(-10**17, 10**17).map(lambda cents: cents / 100),
                 st.integers(-10**6, 10**6).map(lambda tenths: tenths / 10)))
def test_cents_of_a_float_are_the_decimal_s(amount: float):
    """cents_of_dollars reads a float with at most two places from its text: the cents the
    Decimal of its shortest repr gives, rounded half up, for any float."""
    from decimal import ROUND_HALF_UP

    try:
        expected = int((Decimal(repr(amount)) * 100).quantize(Decimal(1),
                                                                rounding=ROUND_HALF_UP))
    except InvalidOperation:  # beyond Decimal's 28 digits (1e+26): refused either way
        with pytest.raises(InvalidOperation):
            money.cents_of_dollars(amount)
        return
    assert money.cents_of_dollars(amount) == expected


@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                 st.integers(-10**17, 10**17).map(lambda cents: cents / 100),
                 st.integers(-10**6, 10**6).map(lambda tenths: tenths / 10),
                 st.sampled_from([-0.0, 0.0, -0.5, 0.05, -0.01, 1e16, 1e15 + 0.3, 0.1 + 0.2,
                                  1e-7, 5e-324, 2353.9615, 10200.5])))
def test_a_float_amount_for_machines_is_the_decimal_s(amount: float):
    """dollars_for_machines writes a float with one or two places from its own text: the
    amount the Decimal of its shortest repr gives, rounded half up to the cent, for any float."""
    from decimal import ROUND_HALF_UP

    try:
        cents = int((Decimal(repr(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation:  # beyond Decimal's 28 digits (1e+26): refused either way
        with pytest.raises(InvalidOperation):
            money.dollars_for_machines(amount)
        return
    assert money.dollars_for_machines(amount) == f"{Decimal(cents).scaleb(-2):.2f}"


def test_examples():
    assert money.for_people(250000) == "$2,500.00"
    assert money.for_people(250050) == "$2,500.50"
    assert money.for_people(9) == "$0.09"
    assert money.for_people(-1050) == "−$10.50"
    assert money.for_machines(250050) == "2500.50"
    assert money.for_machines(0) == "0.00"


def test_customer_commands_show_one_format(unmo):
    doc = onboard(unmo, "TechStart Mobile", "s2s")  # --mrr 2500.50
    assert doc["customer"]["mrr"] == "2500.50"
    slug = doc["customer"]["slug"]
    listed = unmo("customer", "list", "--json").json()
    assert [c["mrr"] for c in listed] == ["2500.50"]
    assert unmo("customer", "show", slug, "--json").json()["customer"]["mrr"] == "2500.50"
    table = unmo("customer", "list").stdout
    shown = unmo("customer", "show", slug).stdout
    for text in (table, shown):
        assert "$2,500.50" in text
        assert "2500.5" not in text and "$2,500.5 " not in text
    assert re.search(r"\bmrr\s+\$2,500\.50\b", shown)


def test_whole_dollars_keep_their_cents_and_big_amounts_stay_exact(unmo, workspace):
    onboard(unmo, "Round Numbers", "sdk")  # --mrr 2500
    onboard(unmo, "Big Spender", "sdk", mrr="999999.99")
    listed = {c["name"]: c["mrr"] for c in unmo("customer", "list", "--json").json()}
    assert listed == {"Round Numbers": "2500.00", "Big Spender": "999999.99"}
    table = unmo("customer", "list").stdout
    assert "$2,500.00" in table and "$999,999.99" in table
    readme = (workspace / "customers" / "big-spender" / "README.md").read_text()
    assert "$999,999.99" in readme
