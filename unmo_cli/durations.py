"""Owns how a duration reads for people: one unit that fits its size (ms, s, min, h), and the
figure as shown, so that a change printed beside two durations is the difference of what the
reader sees. Machines get milliseconds (the report's JSON `*_ms` fields), not these strings."""

from __future__ import annotations

from fractions import Fraction

from unmo_cli.metrics import round_half_up

NO_DATA = "—"
# (unit, seconds per unit, decimals shown, shown below this many seconds)
UNITS = (("ms", Fraction(1, 1000), 0, Fraction(1)), ("s", Fraction(1), 1, Fraction(60)),
         ("min", Fraction(60), 1, Fraction(3600)), ("h", Fraction(3600), 1, None))


def _unit(seconds: Fraction) -> tuple[str, Fraction, int]:
    if 0 < abs(seconds) < Fraction(1, 1000):
        return "ms", Fraction(1, 1000), 1  # a tenth of a millisecond, rather than "0 ms"
    for name, size, places, below in UNITS:
        # Decide on the rounded figure, so 59.96 s reads "1.0 min", not "60.0 s".
        shown = abs(Fraction(str(round_half_up(seconds / size, places)))) * size
        if below is None or shown < below:
            return name, size, places
    raise AssertionError("unreachable")  # the last unit has no bound


def shown_seconds(seconds: float | None) -> float | None:
    """`seconds` rounded to the precision duration_text shows it with (0.1234 → 0.123)."""
    if seconds is None:
        return None
    exact = Fraction(str(seconds))
    _name, size, places = _unit(exact)
    return float(Fraction(str(round_half_up(exact / size, places))) * size)


def duration_text(seconds: float | None, *, signed: bool = False) -> str:
    """0.13 → "130 ms", 12.34 → "12.3 s", 290.2 → "4.8 min", 7300 → "2.0 h"; under 1 ms
    "0.4 ms". `signed`: a change, "+1 ms" / "−2.2 min" / "0 ms" (a real minus sign)."""
    if seconds is None:
        return NO_DATA
    exact = Fraction(str(seconds))
    name, size, places = _unit(exact)
    value = round_half_up(abs(exact) / size, places)
    text = f"{value:,.{places}f} {name}" if places else f"{int(value):,} {name}"
    if not signed or value == 0:
        return text
    return ("+" if exact > 0 else "−") + text


def duration_change(current: float | None, previous: float | None) -> float | None:
    """current − previous, computed from the two durations as shown (in seconds); None when
    either is missing."""
    now, before = shown_seconds(current), shown_seconds(previous)
    if now is None or before is None:
        return None
    return float(Fraction(str(now)) - Fraction(str(before)))


def unit_for(seconds: float) -> tuple[str, float]:
    """The unit duration_text shows `seconds` in, and its size in seconds: a chart's axis of
    durations around that size reads in the same unit ("ms", 0.001)."""
    name, size, _places = _unit(Fraction(str(seconds)))
    return name, float(size)
