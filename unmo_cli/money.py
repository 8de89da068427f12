"""Money, which unmo holds as integer cents, written out in one of two ways: for people,
`$2,500.00` (always the cents, so amounts line up in a column); for machines (JSON), the
decimal string `"2500.00"`, exact to the cent, which a float (2500.5, 0.1 + 0.2) is not.
Every command, file and report that shows an amount uses these two and nothing else."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MINUS = "−"  # U+2212, as the report writes a negative change


def dollars(cents: int) -> Decimal:
    """The exact amount in dollars, with its two places: 250050 → Decimal("2500.50")."""
    return Decimal(int(cents)).scaleb(-2)


def cents_of_dollars(dollars_value: float | int | Decimal) -> int:
    """A figure computed in dollars (the report's sums and means) as whole cents, rounded half
    away from zero from its shortest decimal form: 10200.5 → 1020050, 2353.9615 → 235396."""

    if type(dollars_value) is float:
        # A shortest decimal with at most two places (an amount in cents: nearly every one the
        # weekly report writes, 300,000 at 100,000 customers) is its cents exactly — what the
        # Decimal below gives — read from the same text without the Decimal arithmetic.
        text = repr(dollars_value)  # "-12.5", "4999.94", "1e+16", "1.5e-05", "inf"
        places = len(text) - text.find(".") - 1
        if places <= 2 and "." in text and "e" not in text:
            return int(text.replace(".", "")) * (10 if places == 1 else 1)
    exact = dollars_value if isinstance(dollars_value, Decimal) else Decimal(repr(dollars_value))
    return int((exact * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def dollars_for_machines(dollars_value: float | int | None) -> str | None:
    """`for_machines` of a figure computed in dollars; None stays None (JSON null)."""
    if type(dollars_value) is float:
        # A float whose shortest text has one or two places (an amount in cents: nearly every
        # one a report writes) is its own answer, the second place filled in and -0.0 written
        # 0.00: the text cents_of_dollars reads those cents from, and for_machines gives back.
        # (A text without "." — "1e+16", "inf" — counts as three places or more.)
        text = repr(dollars_value)
        places = len(text) - text.find(".") - 1
        if places == 2:
            return text
        if places == 1:
            return text + "0" if dollars_value else "0.00"
    return None if dollars_value is None else for_machines(cents_of_dollars(dollars_value))


def for_people(cents: int) -> str:
    """250000 → "$2,500.00"; −1050 → "−$10.50"."""
    sign = MINUS if cents < 0 else ""
    return f"{sign}${dollars(abs(int(cents))):,.2f}"


def for_machines(cents: int) -> str:
    """250050 → "2500.50": a JSON string that reads back as the exact amount
    (`Decimal(text)`, or `round(float(text) * 100)` cents)."""
    if type(cents) is int and -_EXACT_UP_TO < cents < _EXACT_UP_TO:
        # The same text as the Decimal's, by integer division (Decimal's 28 digits hold these).
        whole, part = divmod(-cents if cents < 0 else cents, 100)
        return f"-{whole}.{part:02d}" if cents < 0 else f"{whole}.{part:02d}"
    return f"{dollars(cents):.2f}"


_EXACT_UP_TO = 10**26


def cents_of(amount: str) -> int:
    """The inverse of `for_machines`: "2500.50" → 250050. Anything that is not an amount to the
    cent is a ValueError."""
    try:
        value = Decimal(amount) * 100
    except (InvalidOperation, TypeError):
        raise ValueError(f"{amount!r} is not an amount of money") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"{amount!r} is not an amount to the cent")
    return int(value)
