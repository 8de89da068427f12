"""The read models `customer show` prints and the weekly report shares: a customer's feedback
summary (the last 30 days) and health summary (the last 7 days of checks and the 0–100 score).
Below services/feedback.py and services/health.py, which record what these read, so
services/customers.py can show them without importing either."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select

from unmo_cli import clock, metrics
from unmo_cli.db.tables import feedback as feedback_table
from unmo_cli.db.tables import health_checks

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlmodel import Session

    from unmo_cli.workspace import Settings

# Core clauses (db/tables.py), not the model classes: `customer show` reads these on a Core
# connection without building them; a model session runs the same statements.
Feedback = feedback_table.c
HealthCheck = health_checks.c

SUMMARY_WINDOW = metrics.SUMMARY_WINDOW


def unhealthy_services(services: dict[str, str] | None) -> list[str]:
    return sorted(name for name, state in (services or {}).items() if state != "healthy")


# --- the summary `customer show` displays ------------------------------------------------------


def feedback_summary(session: Session | Connection, customer_id: int, now: datetime | None = None
                     ) -> dict[str, Any]:
    """Satisfaction % and NPS over the last 30 days (now − 30 days < received_at ≤ now) from one
    SQL aggregate and metrics.satisfaction_pct / metrics.nps, plus the latest response (at or
    before now)."""
    end = clock.to_db(now or clock.now())
    start = end - SUMMARY_WINDOW
    answered = Feedback.nps.is_not(None)
    row = session.execute(
        select(
            func.count(Feedback.id),
            func.sum(Feedback.satisfaction),
            func.sum(case((answered, 1), else_=0)),
            func.sum(case((Feedback.nps >= 9, 1), else_=0)),
            func.sum(case((Feedback.nps.between(7, 8), 1), else_=0)),
            func.sum(case((Feedback.nps <= 6, 1), else_=0)),
        ).where(Feedback.customer_id == customer_id, Feedback.received_at > start,
                Feedback.received_at <= end)
    ).one()
    responses, score_sum = int(row[0] or 0), int(row[1] or 0)
    answers, promoters, passives, detractors = (int(v or 0) for v in row[2:])
    latest = session.execute(
        select(feedback_table).where(Feedback.customer_id == customer_id,
                                     Feedback.received_at <= end)
        .order_by(Feedback.received_at.desc(), Feedback.id.desc()).limit(1)
    ).first()
    return {
        "window_days": SUMMARY_WINDOW.days,
        "since": clock.iso(start),
        "responses": responses,
        "satisfaction_pct": metrics.satisfaction_pct(score_sum, responses),
        "nps": metrics.nps(promoters, detractors, answers),
        "nps_answers": answers,
        "promoters": promoters,
        "passives": passives,
        "detractors": detractors,
        # Flat, so `customer show` renders it as one key/value table.
        "latest_received_at": clock.iso(latest.received_at) if latest else None,
        "latest_satisfaction": latest.satisfaction if latest else None,
        "latest_nps": latest.nps if latest else None,
        "latest_category": latest.category if latest else None,
        "latest_comment": latest.comment if latest else None,
    }


# --- the health summary of `customer show` -----------------------------------------------------

TECHNICAL_WINDOW = metrics.TECHNICAL_WINDOW


def health_summary(session: Session | Connection, customer: Any, settings: Settings,
                   now: datetime | None = None) -> dict[str, Any]:
    """The last recorded check and a 0–100 health score with its color, for `customer show`.

    Components (each 0–100; see metrics.py for the formulas):
    - technical: the last 7 days' checks (those inside maintenance windows left out) —
      availability (not `down` ÷ all) against
      targets.availability_pct and p95 latency against targets.p95_latency_ms, averaged;
    - sentiment: satisfaction_pct and NPS over the last 30 days (feedback_summary) against
      targets.satisfaction_pct and targets.nps, averaged;
    - engagement: installs flowing — 100 when the newest check of the last 7 days that measured
      installs saw some, 0 when it saw none.
    Weighted by health_score.weight_technical/_sentiment/_engagement; a component without data
    is left out and the other weights renormalised. green ≥ health_score.green_at, yellow ≥
    yellow_at, red below; no data at all → score and color null."""
    at = clock.to_db(now or clock.now())
    since = at - TECHNICAL_WINDOW
    assert customer.id is not None
    last = session.execute(
        select(health_checks).where(HealthCheck.customer_id == customer.id,
                                    HealthCheck.checked_at <= at)
        .order_by(HealthCheck.checked_at.desc(), HealthCheck.id.desc()).limit(1)).first()
    week = session.execute(
        select(HealthCheck.status, HealthCheck.latency_ms, HealthCheck.installs)
        .where(HealthCheck.customer_id == customer.id, HealthCheck.checked_at > since,
               HealthCheck.checked_at <= at, HealthCheck.status != "maintenance")
        .order_by(HealthCheck.checked_at.desc(), HealthCheck.id.desc())).all()
    targets = settings.targets
    checks = len(week)
    availability = metrics.availability_pct(sum(1 for s, _l, _i in week if s != "down"), checks)
    p95 = metrics.percentile_nearest_rank([lat for _s, lat, _i in week if lat is not None])
    feedback = feedback_summary(session, customer.id, now)
    satisfaction, nps = feedback["satisfaction_pct"], feedback["nps"]
    installs = next((i for _s, _l, i in week if i is not None), None)
    components = metrics.health_components(availability, p95, satisfaction, nps, installs,
                                           targets)
    technical, sentiment = components["technical"], components["sentiment"]
    engagement = components["engagement"]
    weights = {"technical": settings.health_score.weight_technical,
               "sentiment": settings.health_score.weight_sentiment,
               "engagement": settings.health_score.weight_engagement}
    score = metrics.health_score(components, weights)
    # Flat, so `customer show` can print it as a two-column table and JSON readers need no
    # digging; the suffixes say each figure's window.
    return {
        "score": score,
        "color": metrics.health_color(score, settings.health_score.green_at,
                                      settings.health_score.yellow_at),
        "last_checked_at": clock.iso(last.checked_at) if last else None,
        "last_status": last.status if last else None,
        "last_http_status": last.http_status if last else None,
        "last_latency_ms": last.latency_ms if last else None,
        "last_unhealthy_services": ", ".join(unhealthy_services(
            json.loads(last.services) if last and last.services else None)) or None,
        "last_installs": last.installs if last else None,
        "last_error": last.error if last else None,
        "technical": None if technical is None else round(technical, 1),
        "sentiment": None if sentiment is None else round(sentiment, 1),
        "engagement": engagement,
        "checks_7d": checks,
        "availability_pct_7d": availability,
        "p95_latency_ms_7d": p95,
        "satisfaction_pct_30d": satisfaction,
        "nps_30d": nps,
    }
