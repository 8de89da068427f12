"""How a customer's name folds: to ASCII (for slugs) and to the key the database keeps
unique, so names that differ only by case, accents or punctuation are one customer. Below
the services: onboarding, the customer look-up and feedback import all fold the same way."""

from __future__ import annotations

import re
import unicodedata

# Letters NFKD does not decompose into ASCII but that have a customary spelling.
_TRANSLITERATION = str.maketrans({
    "ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O", "œ": "oe", "Œ": "OE", "đ": "d",
    "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D", "ı": "i",
})

def fold_to_ascii(text: str) -> str:
    """Unicode folded to ASCII: accents dropped (é → e), a few letters transliterated (ß → ss),
    what has no ASCII form removed."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_TRANSLITERATION))
    return decomposed.encode("ascii", "ignore").decode("ascii")


def name_key(name: str) -> str:
    """The name reduced to lowercase ASCII letters and digits; the database keeps it unique so
    names that differ only by case, accents or punctuation are the same customer."""
    return re.sub(r"[^a-z0-9]", "", fold_to_ascii(name).lower())
