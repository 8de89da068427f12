"""Owns how a count reads in a sentence ("1 customer", "3 customers"), for every message and
report that counts things."""

from __future__ import annotations


def plural(count: int | float, word: str, words: str | None = None) -> str:
    """ "1 customer", "0 customers", "1,200 customers"; `words` for an irregular plural."""
    number = f"{int(count):,}" if float(count).is_integer() else f"{count:,}"
    return f"{number} {word if count == 1 else (words or word + 's')}"
