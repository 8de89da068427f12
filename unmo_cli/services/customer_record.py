"""The contract's customer object (docs/cli.md), from anything with the customers table's columns
as attributes: a Customer, a row of a query, or the values onboarding has just inserted. No
database and no ORM classes here, so onboarding answers without building them."""

from __future__ import annotations

from typing import Any

from unmo_cli import clock, money

PHASES = ("discovery", "setup", "launch")


def platforms_of(customer: Any) -> list[str]:
    return [p for p in customer.platforms.split(",") if p]


def customer_json(customer: Any) -> dict[str, Any]:
    """The contract's customer object (of a Customer, or of a row of the customers table)."""
    return {
        "slug": customer.slug,
        "name": customer.name,
        "industry": customer.industry,
        "integration": customer.integration,
        "platforms": platforms_of(customer),
        "provider": customer.provider,
        "events_per_day": customer.events_per_day,
        "mrr": money.for_machines(customer.mrr_cents),
        "contact_name": customer.contact_name,
        "contact_email": customer.contact_email,
        "success_manager": customer.success_manager,
        "phase": customer.phase,
        "created_at": clock.iso(customer.created_at),
        "churned_at": clock.iso(customer.churned_at),
        "churn_reason": customer.churn_reason,
        "tier": customer.tier,
        "renewal_date": customer.renewal_date.isoformat() if customer.renewal_date else None,
    }
