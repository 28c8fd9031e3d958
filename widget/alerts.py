"""Abuse alerts: admins get a mail when an IP hash, an email domain or a partner turns unusual
by the abuse monitor's own rules (``widget.abuse.recent_activity``), at most once an hour per
cause, so a bot that keeps going does not bury them in mail.

Run from cron (``flask --app widget alerts``): each run looks at the last ``WINDOW`` of every
campaign that had signatures in it, claims each unusual cause whose last mail is over
``QUIET`` old (one conditional write, so two runs at once mail once), and queues one mail per
active admin through the outbox, in the same transaction as the claims. The mail says only
what the monitor shows: the IP hash, the domain or the partner's slug, and how many.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import escape
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .abuse import recent_activity
from .models import AbuseAlert, Campaign, Signature, Staff
from .outbox import Mail, enqueue

#: how far back each run looks (the monitor's default span)
WINDOW = timedelta(hours=1)
#: at most one mail per cause in this time
QUIET = timedelta(hours=1)
KINDS = {"ip": "IP hash", "domain": "email domain", "partner": "partner"}


@dataclass(frozen=True)
class Cause:
    campaign: Campaign
    kind: str
    key: str
    signatures: int
    total: int

    @property
    def name(self) -> str:
        return f"{self.campaign.slug}/{self.kind}/{self.key}"

    def describe(self) -> str:
        return (
            f"{KINDS[self.kind]} {self.key}: {self.signatures} of the "
            f"{self.total} signatures in the last hour"
        )


@dataclass(frozen=True)
class AlertReport:
    #: the causes mailed about in this run
    sent: list[str]
    #: unusual now, but mailed about within the hour
    quiet: list[str]
    recipients: int


def unusual_causes(session: Session, now: datetime) -> list[Cause]:
    """Every unusual group of the last ``WINDOW``, in every campaign signed in it."""
    since = now - WINDOW
    # ``updated_at`` is indexed and never before ``created_at``: a cheap first cut
    signed = select(Signature.campaign_id).where(Signature.updated_at >= since).distinct()
    campaigns = session.scalars(
        select(Campaign).where(Campaign.id.in_(signed)).order_by(Campaign.slug)
    ).all()
    causes = []
    for campaign in campaigns:
        report = recent_activity(session, campaign, since, now)
        for kind, groups in (
            ("ip", report.by_ip),
            ("domain", report.by_domain),
            ("partner", report.by_partner),
        ):
            causes += [
                Cause(campaign, kind, group.key, group.signatures, report.total)
                for group in groups
                if group.unusual
            ]
    return causes


def send_alerts(session: Session, now: datetime, monitor_link: Callable[[str], str]) -> AlertReport:
    """Claim the causes due a mail and queue it to every active admin; commit."""
    causes = unusual_causes(session, now)
    admins = session.scalars(
        select(Staff.email).where(Staff.role == "admin", Staff.active.is_(True))
    ).all()
    if not causes or not admins:
        session.rollback()
        return AlertReport([], [cause.name for cause in causes], 0)
    due = [cause for cause in causes if _claim(session, cause.name, now)]
    quiet = [cause.name for cause in causes if cause not in due]
    if due:
        for admin in admins:
            enqueue(session, alert_mail(admin, due, monitor_link), now)
    session.commit()
    return AlertReport([cause.name for cause in due], quiet, len(admins) if due else 0)


def _claim(session: Session, cause: str, now: datetime) -> bool:
    """Whether this run mails about ``cause``: its last mail is over ``QUIET`` old, or there
    was none. A run at the same moment waits for this one's row and then finds it taken."""
    moved = session.execute(
        update(AbuseAlert)
        .where(AbuseAlert.cause == cause, AbuseAlert.last_sent_at <= now - QUIET)
        .values(last_sent_at=now)
    )
    if moved.rowcount:  # type: ignore[attr-defined]
        return True
    if session.scalar(select(exists().where(AbuseAlert.cause == cause))):
        return False
    try:
        with session.begin_nested():
            session.add(AbuseAlert(cause=cause, last_sent_at=now))
    except IntegrityError:
        return False
    return True


def alert_mail(recipient: str, causes: list[Cause], monitor_link: Callable[[str], str]) -> Mail:
    """Staff mail, in English like the rest of the staff area."""
    by_campaign: dict[str, list[Cause]] = {}
    for cause in causes:
        by_campaign.setdefault(cause.campaign.slug, []).append(cause)
    count = len(causes)
    subject = f"Unusual signing: {count} new cause{'s' if count != 1 else ''} in the last hour"
    lines = ["Unusual signing by the abuse monitor's rules:", ""]
    parts = ["<p>Unusual signing by the abuse monitor's rules:</p>"]
    for slug, items in by_campaign.items():
        campaign = items[0].campaign
        link = monitor_link(slug)
        lines += [f"{campaign.reference} · {campaign.title}"]
        lines += [f"  - {item.describe()}" for item in items]
        lines += [f"  The abuse monitor: {link}", ""]
        parts += [
            f"<h2>{escape(campaign.reference)} · {escape(campaign.title)}</h2><ul>",
            *(f"<li>{escape(item.describe())}</li>" for item in items),
            f'</ul><p><a href="{escape(link)}">The abuse monitor</a></p>',
        ]
    footer = (
        "There, you can take fake signatures out of the count. You get at most one mail an "
        "hour about each cause."
    )
    lines.append(footer)
    parts.append(f"<p>{escape(footer)}</p>")
    return Mail(recipient, subject, "\n".join(lines) + "\n", "\n".join(parts), kind="abuse_alert")
