"""The long-running mail sender (``outbox work``): it outlives database and relay outages.

Every database error is logged and retried with a growing pause (a PostgreSQL restart, a full
disk, a read-only file); a relay that refuses us pauses the sender the same way, so the queue
waits instead of being burnt one message after another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from .clock import utcnow
from .outbox import Clock, DeliveryReport, Sleep, Transport, database_problem, deliver_due

log = logging.getLogger(__name__)

#: the longest pause after trouble (database errors or a relay that refuses us)
LONGEST_PAUSE = 300.0


def pause_after(trouble: int, interval: float) -> float:
    """``interval`` doubling with each consecutive trouble, up to five minutes."""
    return float(min(interval * 2 ** min(trouble, 20), LONGEST_PAUSE))


def run(
    make_session: sessionmaker[Session],
    transport: Transport,
    *,
    interval: float = 2.0,
    clock: Clock = utcnow,
    sleep: Sleep = time.sleep,
    keep_going: Callable[[], bool] = lambda: True,
    on_report: Callable[[DeliveryReport], None] = lambda _report: None,
    wipe_sent: bool = False,
) -> None:
    """Deliver passes until ``keep_going()`` is false (never, in production); ``wipe_sent``
    as in ``outbox.deliver_due``."""
    trouble = 0
    while keep_going():
        try:
            report = deliver_due(make_session, transport, clock, sleep=sleep, wipe_sent=wipe_sent)
        except SQLAlchemyError as error:
            trouble += 1
            pause = pause_after(trouble, interval)
            log.error(
                "outbox: database error, retrying in %.0f s: %s", pause, database_problem(error)
            )
            sleep(pause)
            continue
        on_report(report)
        if report.relay_refused is not None:
            trouble += 1
            sleep(pause_after(trouble, interval))
            continue
        trouble = 0
        if not report.handled:
            sleep(interval)
