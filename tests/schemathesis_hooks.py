"""Schemathesis hooks (SCHEMATHESIS_HOOKS) for tests/test_sandbox_conformance.py.

attribution-api.yaml states in words a rule OpenAPI cannot express across two parameters: the
period runs forward and lasts at most 366 days. Positive cases — requests Schemathesis asserts
must be accepted — are kept within it by moving `end_date` to `start_date`; negative cases are
left as generated, so the 400s for a bad period are still exercised."""

from __future__ import annotations

from datetime import date

import schemathesis

MAX_PERIOD_DAYS = 366


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if case.operation.path != "/analytics/attribution" or meta is None:
        return case
    if not meta.generation.mode.is_positive or not isinstance(case.query, dict):
        return case
    try:
        start = date.fromisoformat(case.query["start_date"])
        end = date.fromisoformat(case.query["end_date"])
    except (KeyError, TypeError, ValueError):
        return case
    if start > end or (end - start).days + 1 > MAX_PERIOD_DAYS:
        case.query["end_date"] = case.query["start_date"]
    return case
