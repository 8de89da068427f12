"""The audit trail's canonical form is exactly what the documented rule gives (json.dumps with
sorted keys, no spaces, UTF-8 as is), for any text: what unmo hashes when it records, what
`audit verify` rebuilds from the stored bytes, and what an auditor computes agree."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from unmo_cli import audit
from unmo_cli.services.audit import _json_bytes

# Any text a database column can hold (no lone surrogates: not UTF-8, refused by both).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | TEXT
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8)


@given(st.integers(1, 2**62), TEXT, TEXT, TEXT, st.none() | TEXT, TEXT,
       st.dictionaries(TEXT, VALUES, max_size=4))
def test_canonical_is_the_documented_json(event_id, at, actor, command, customer, action,
                                          details):
    event = {"id": event_id, "at": at, "actor": actor, "command": command,
             "customer": customer, "action": action, "details": details}
    documented = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert audit.canonical(event_id, at, actor, command, customer, action,
                           audit.details_json(details)) == documented


@given(TEXT)
def test_verify_quotes_stored_bytes_as_the_rule_does(value):
    assert _json_bytes(value.encode()) == json.dumps(value, ensure_ascii=False).encode()
