"""The sign path does the same database work whatever the address's state, so the time of the
answer cannot tell who signed (issue 17, item 3). Compared by the statements run, not by time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from widget.extensions import db
from widget.models import OutboxMessage, Signature
from widget.tokens import manage_tokens, verify_tokens

from .conftest import SECRET, Supporter, link_claims

PLENTY = "10000 per minute"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}

pytestmark = pytest.mark.parametrize(
    "settings_env",
    [
        {
            "WIDGET_RATELIMIT_SIGN": PLENTY,
            "WIDGET_RATELIMIT_IP": PLENTY,
            "WIDGET_RATELIMIT_LINKS": PLENTY,
            "WIDGET_RATELIMIT_MAIL": "3 per hour",
        }
    ],
)

#: how each state is reached from outside, with the mail budget (3) left
WITH_BUDGET = {
    "new": [],
    "pending": ["sign"],
    "confirmed": ["sign", "confirm"],
    "withdrawn": ["sign", "withdraw"],
    "invalidated": ["sign", "confirm", "invalidate"],
}
#: the same states with the address's mail budget spent
BUDGET_SPENT = {
    "pending": ["sign", "sign", "sign"],
    "confirmed": ["sign", "confirm", "sign", "sign"],
    "withdrawn": ["sign", "sign", "sign", "withdraw"],
    "invalidated": ["sign", "confirm", "invalidate", "sign", "sign"],
}


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the app's engine sends while the block runs."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = db.engine(app)
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


class Arranger:
    """Brings an address into a state the way a supporter and staff would."""

    def __init__(self, app: Flask, client: FlaskClient, supporter: Supporter, session: Session):
        self.app, self.client, self.supporter, self.session = app, client, supporter, session

    def signature_id(self, email: str) -> int:
        return self.session.scalars(select(Signature.id).where(Signature.email == email)).one()

    def run(self, email: str, steps: list[str]) -> None:
        for step in steps:
            if step == "sign":
                assert self.supporter.sign(email=email).status_code == 200
            elif step == "confirm":
                claims = link_claims(self.session, self.signature_id(email), c="ua-109-23")
                token = verify_tokens((SECRET,)).dumps(claims)
                assert self.client.post(f"/v/{token}", headers=SAME_ORIGIN).status_code == 200
            elif step == "withdraw":
                token = manage_tokens((SECRET,)).dumps(
                    link_claims(self.session, self.signature_id(email))
                )
                assert self.client.post(f"/m/{token}", headers=SAME_ORIGIN).status_code == 200
            elif step == "invalidate":
                domain = email.rpartition("@")[2]
                args = ["invalidate", "ua-109-23", "--domain", domain, "--apply"]
                assert self.app.test_cli_runner().invoke(args=args).exit_code == 0

    def probe(self, email: str) -> tuple[list[str], bytes]:
        """One sign POST for ``email``: the statements it ran and the page it answered."""
        form = self.supporter.form(email=email)
        with statements(self.app) as seen:
            response = self.client.post("/w/ua-109-23", data=form, headers=SAME_ORIGIN)
        assert response.status_code == 200
        return seen, response.data


@pytest.fixture
def arranger(app: Flask, client: FlaskClient, supporter: Supporter, session: Session) -> Arranger:
    return Arranger(app, client, supporter, session)


def mail_kinds(session: Session, email: str) -> list[str]:
    session.expire_all()
    query = select(OutboxMessage.kind).where(OutboxMessage.recipient == email)
    return list(session.scalars(query.order_by(OutboxMessage.id)))


def test_every_state_runs_the_same_statements_and_gets_its_own_mail(
    arranger: Arranger, session: Session
) -> None:
    runs, pages, mails = {}, set(), {}
    for state, steps in WITH_BUDGET.items():
        email = f"budget-left@{state}.example.org"
        arranger.run(email, steps)
        before = mail_kinds(session, email)
        runs[state], page = arranger.probe(email)
        pages.add(page)
        mails[state] = mail_kinds(session, email)[len(before) :]
    assert len(pages) == 1
    expected = runs["new"]
    assert [statement.split()[0] for statement in expected] == ["SELECT", "INSERT", "INSERT"]
    assert "ON CONFLICT" in expected[1]
    for state, seen in runs.items():
        assert seen == expected, state
    # The mail still differs, as it must; an invalidated signature is mailed nothing.
    assert mails == {
        "new": ["confirm"],
        "pending": ["confirm"],
        "confirmed": ["already_signed"],
        "withdrawn": ["confirm"],
        "invalidated": [],
    }


def test_with_the_mail_budget_spent_every_state_still_runs_the_same_statements(
    arranger: Arranger, session: Session
) -> None:
    runs, pages = {}, set()
    for state, steps in BUDGET_SPENT.items():
        email = f"budget-spent@{state}.example.org"
        arranger.run(email, steps)
        before = mail_kinds(session, email)
        runs[state], page = arranger.probe(email)
        pages.add(page)
        assert mail_kinds(session, email) == before, state
    assert len(pages) == 1
    expected = runs["pending"]
    assert [statement.split()[0] for statement in expected] == ["SELECT", "INSERT"]
    for state, seen in runs.items():
        assert seen == expected, state
