"""The in-app list of an organization's alerts (JSON API and CLI), newest first.

An owner's e-mail sign-in link travels through the same outbox but is that owner's mail, not
an alert to the organization: it is never listed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.alerts.messages import render
from app.models import Alert, AlertDelivery, AlertKind, Organization

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def recent_alerts(
    session: Session, organization: Organization, base_url: str, limit: int = DEFAULT_LIMIT
) -> list[dict[str, Any]]:
    alerts = session.scalars(
        select(Alert)
        .where(
            Alert.organization_id == organization.id,
            Alert.kind != AlertKind.SIGN_IN_LINK.value,
        )
        .order_by(Alert.id.desc())
        .limit(max(1, min(limit, MAX_LIMIT)))
    ).all()
    counts: dict[int, dict[str, int]] = {alert.id: {} for alert in alerts}
    if alerts:
        rows = session.execute(
            select(AlertDelivery.alert_id, AlertDelivery.status, func.count())
            .where(AlertDelivery.alert_id.in_(list(counts)))
            .group_by(AlertDelivery.alert_id, AlertDelivery.status)
        ).all()
        for alert_id, status, number in rows:
            counts[alert_id][status] = int(number)
    listed = []
    for alert in alerts:
        rendered = render(alert, organization.name, base_url)
        listed.append(
            {
                "id": alert.public_id,
                "kind": alert.kind,
                "status": alert.status,
                "title": rendered.subject,
                "text": rendered.text,
                "created_at": alert.created_at.isoformat(),
                "deliverable_at": alert.deliverable_at.isoformat(),
                "request_id": alert.request_id,
                "details": alert.details,
                "deliveries": counts[alert.id],
            }
        )
    return listed
