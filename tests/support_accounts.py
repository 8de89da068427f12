"""Tests that write customers straight into the database (to date them in the past) give them
the MRR ledger entries onboarding and `customer churn` would have written: the reports read MRR
and churn from the ledger (migration 0008)."""

from __future__ import annotations

from typing import Any

from unmo_cli.db.models import MrrChange


def record_ledger(session: Any, customer: Any) -> None:
    """The ledger of a customer added by hand: `start` at its creation with its MRR, and a
    `churn` at churned_at when it has one. Call after the customer's flush (it needs the id)."""
    assert customer.id is not None, "flush the customer first"
    session.add(MrrChange(customer_id=customer.id, kind="start", mrr_cents=customer.mrr_cents,
                          effective_at=customer.created_at, recorded_at=customer.created_at))
    if customer.churned_at is not None:
        session.add(MrrChange(customer_id=customer.id, kind="churn", mrr_cents=0,
                              effective_at=customer.churned_at,
                              recorded_at=customer.churned_at, reason=customer.churn_reason))
