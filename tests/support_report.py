"""The weekly report's hand-built dataset, written through the project's own data layer.

Time zone America/New_York; the report's week is 2026-W46: Mon 9 Nov 2026 00:00 EST
(2026-11-09T05:00Z) up to Mon 16 Nov 00:00 EST (2026-11-16T05:00Z). W44 contains the end of DST
(1 Nov), so it lasts 169 hours. Rows sit on both edges of the week and on the time-zone edge
(a Monday 03:00 UTC is still Sunday evening in New York). Every expected figure is worked out by
hand in test_report.py from the comments here."""

from __future__ import annotations

from datetime import datetime

from support_accounts import record_ledger

ZONE = "America/New_York"
NOW = "2026-11-18T12:00:00Z"  # a Wednesday: the last complete week is 2026-W46


def at(text: str) -> datetime:
    """A naive UTC timestamp, as the database stores them."""
    return datetime.fromisoformat(text.removesuffix("Z"))


# slug, industry, integration, platforms, provider, events/day, MRR cents, phase, created,
# churned — A..H
CUSTOMERS = [
    ("alpha-games", "gaming", "sdk", "ios,android", "appsflyer", 50_000, 250_000, "launch",
     "2026-10-20T15:00:00", None),                       # W43
    ("beta-shop", "ecommerce", "s2s", "", "adjust", 100_000, 250_000, "launch",
     "2026-11-03T14:00:00", None),                       # W45
    ("gamma-pay", "fintech", "hybrid", "ios", "branch", 75_000, 300_050, "setup",
     "2026-11-10T16:00:00", None),                       # W46, $3,000.50
    ("delta-fit", "other", "sdk", "android", "kochava", 20_000, 120_000, "setup",
     "2026-11-12T18:00:00", None),                       # W46
    ("echo-travel", "other", "s2s", "", "singular", 10_000, 80_000, "launch",
     "2026-10-01T12:00:00", "2026-11-11T12:00:00"),      # W40, churned in W46
    ("foxtrot-old", "gaming", "sdk", "ios", "adjust", 5_000, 50_000, "launch",
     "2026-09-15T12:00:00", "2026-10-28T00:00:00"),      # W38, churned in W44
    ("golf-late", "ecommerce", "s2s", "", "branch", 15_000, 100_000, "discovery",
     "2026-11-16T04:30:00", None),                       # Sun 23:30 New York: W46
    ("hotel-next", "fintech", "s2s", "", "none", 1_000, 99_900, "discovery",
     "2026-11-16T05:00:00", None),                       # Mon 00:00 New York: W47
]

# customer, outcome, finished_at, duration_s
ONBOARDING = [
    ("echo-travel", "success", "2026-10-01T12:10:00", 600.0),   # W40
    ("alpha-games", "success", "2026-10-20T15:06:00", 360.0),   # W43
    ("beta-shop", "success", "2026-11-03T14:05:00", 420.0),     # W45
    ("gamma-pay", "success", "2026-11-10T16:04:00", 240.5),     # W46
    ("delta-fit", "success", "2026-11-12T18:05:00", 300.0),     # W46
    (None, "failed", "2026-11-11T10:00:00", 50.0),              # W46, failed: not counted
    ("golf-late", "success", "2026-11-16T04:35:00", 330.2),     # W46 (Sunday evening locally)
    ("hotel-next", "success", "2026-11-16T05:02:00", 200.0),    # W47
]

# customer, received_at, satisfaction, nps
FEEDBACK = [
    ("alpha-games", "2026-10-22T12:00:00", 10, 10),   # W43
    ("beta-shop", "2026-11-04T12:00:00", 6, None),    # W45
    ("alpha-games", "2026-11-05T12:00:00", 8, 9),     # W45
    ("echo-travel", "2026-11-06T12:00:00", 9, 10),    # W45
    ("alpha-games", "2026-11-09T03:00:00", 7, 8),     # Sun 22:00 New York: W45
    ("alpha-games", "2026-11-09T05:00:00", 9, 9),     # the first instant of W46
    ("echo-travel", "2026-11-10T12:00:00", 5, 2),     # W46
    ("alpha-games", "2026-11-11T15:00:00", 10, 10),   # W46
    ("beta-shop", "2026-11-12T12:00:00", 8, 7),       # W46
    ("beta-shop", "2026-11-13T12:00:00", 6, 3),       # W46
    ("gamma-pay", "2026-11-14T12:00:00", 9, None),    # W46
    ("gamma-pay", "2026-11-16T03:00:00", 10, 9),      # Sun 22:00 New York: W46
    ("beta-shop", "2026-11-16T05:00:00", 1, 0),       # the first instant of W47
]

# customer, checked_at, status, latency_ms
HEALTH = [
    ("beta-shop", "2026-11-05T10:00:00", "healthy", 90.0),       # W45
    ("alpha-games", "2026-11-09T04:00:00", "down", None),        # W45 (Sunday 23:00 locally)
    ("alpha-games", "2026-11-10T10:00:00", "healthy", 80.0),     # W46
    ("beta-shop", "2026-11-10T10:00:00", "healthy", 60.0),       # W46
    ("delta-fit", "2026-11-13T09:00:00", "unauthorized", 40.0),  # W46
    ("alpha-games", "2026-11-12T10:00:00", "healthy", 95.0),     # W46
    ("beta-shop", "2026-11-13T10:00:00", "down", None),          # W46, beta's last
    ("alpha-games", "2026-11-15T10:00:00", "degraded", 150.0),   # W46, alpha's last
    ("gamma-pay", "2026-11-16T04:00:00", "healthy", 70.0),       # W46 (Sunday 23:00 locally)
    ("alpha-games", "2026-11-16T06:00:00", "healthy", 10.0),     # W47
]

# customer, rule, created_at, score, text
ALERTS = [
    ("echo-travel", "low_satisfaction", "2026-11-10T12:00:01", 5.0,
     "echo-travel rated satisfaction 5/10 | below 7"),
    ("beta-shop", "detractor", "2026-11-13T12:00:01", 3.0, "beta-shop answered NPS 3"),
    ("beta-shop", "low_satisfaction", "2026-11-16T05:00:01", 1.0, "beta-shop rated 1/10"),  # W47
]


def build_dataset(workspace_root: object = None) -> None:
    """Write the dataset above into the current workspace's database (through open_database and
    the models, the same path the commands take)."""
    from unmo_cli.db import open_database
    from unmo_cli.db.models import Alert, Customer, Feedback, HealthCheck, OnboardingSession
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    try:
        ids: dict[str, int] = {}
        with db.session() as session:
            for (slug, industry, integration, platforms, provider, events, mrr_cents, phase,
                 created, churned) in CUSTOMERS:
                name = slug.replace("-", " ").title()
                customer = Customer(
                    slug=slug, name_key=slug.replace("-", ""), name=name, industry=industry,
                    integration=integration, platforms=platforms, provider=provider,
                    events_per_day=events, mrr_cents=mrr_cents, contact_name="Ops",
                    contact_email=f"ops@{slug}.example", phase=phase, created_at=at(created),
                    churned_at=at(churned) if churned else None,
                    churn_reason="moved budget" if churned else None)
                session.add(customer)
                session.flush()
                record_ledger(session, customer)
                ids[slug] = customer.id
            for slug, outcome, finished, duration in ONBOARDING:
                finished_at = at(finished)
                session.add(OnboardingSession(
                    customer_id=ids[slug] if slug else None, customer_name=slug or "Broken Co",
                    mode="flags", outcome=outcome, started_at=finished_at, finished_at=finished_at,
                    duration_s=duration))
            for slug, received, satisfaction, nps in FEEDBACK:
                session.add(Feedback(customer_id=ids[slug], received_at=at(received),
                                     satisfaction=satisfaction, nps=nps))
            for slug, checked, status, latency in HEALTH:
                session.add(HealthCheck(customer_id=ids[slug], checked_at=at(checked),
                                        status=status, latency_ms=latency,
                                        http_status=200 if status == "healthy" else None))
            for slug, rule, created, score, text in ALERTS:
                session.add(Alert(customer_id=ids[slug], rule=rule, text=text, score=score,
                                  created_at=at(created)))
    finally:
        db.dispose()
