"""The sign path does the same database work whatever the address's state, so the time of the
answer cannot tell who signed (issue 17, item 3). Compared by the statements run, not by time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from nacl.public import PrivateKey
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from widget import widget_state
from widget.clock import utcnow
from widget.extensions import db
from widget.limits import runtime_limits
from widget.models import LimitAllowance, OutboxMessage, RuntimeLimit, Signature
from widget.runtime_limits import VERSION_QUERY
from widget.sealing import public_key_text
from widget.tokens import manage_tokens, verify_tokens

from .conftest import SECRET, Supporter, freeze_reuse, link_claims, sign_answer
from .test_journey import receipt_of

PLENTY = "10000 per minute"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}

LIMITS = {
    "WIDGET_RATELIMIT_SIGN": PLENTY,
    "WIDGET_RATELIMIT_IP": PLENTY,
    "WIDGET_RATELIMIT_LINKS": PLENTY,
    "WIDGET_RATELIMIT_MAIL": "3 per hour",
}
#: sealed mode seals in every state alike (``widget.sealing``): the same holds there
SEALED = {"WIDGET_DATA_PUBLIC_KEY": public_key_text(PrivateKey.generate().public_key)}

pytestmark = pytest.mark.parametrize(
    "settings_env", [LIMITS, {**LIMITS, **SEALED}], ids=["clear", "sealed"]
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
    """Every SQL statement the app's engine sends while the block runs, but the process's
    look at the run-time limits' version (``widget.runtime_limits``: every 2 s, whatever the
    request). Their first load is made before, so any other read of them is seen."""
    engine = db.engine(app)
    with app.app_context():
        runtime_limits().limit("sign")
    refresh = str(VERSION_QUERY.compile(dialect=engine.dialect))
    seen: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement != refresh:
            seen.append(statement)

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
        keys = widget_state(self.app).addresses.stored_forms(email)
        return self.session.scalars(select(Signature.id).where(Signature.email_key.in_(keys))).one()

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
            elif step == "invalidate" and widget_state(self.app).sealer:
                # a sealed address keeps no domain to select by: the state staff would leave
                self.session.execute(
                    update(Signature)
                    .where(Signature.id == self.signature_id(email))
                    .values(invalidated_at=utcnow())
                )
                self.session.commit()
            elif step == "invalidate":
                domain = email.rpartition("@")[2]
                args = ["invalidate", "ua-109-23", "--domain", domain, "--apply"]
                assert self.app.test_cli_runner().invoke(args=args).exit_code == 0

    def probe(self, email: str) -> tuple[list[str], str]:
        """One sign POST for ``email``: the statements it ran and the page it answered."""
        form = self.supporter.form(email=email)
        # the process's reused campaign and count (``widget.public_facts``) read just before,
        # as any reader's page would, after whatever the arranging changed (a confirmation or
        # withdrawal clears them in the process); the fixture's frozen clock keeps them then
        assert self.client.get("/w/ua-109-23").status_code == 200
        with statements(self.app) as seen:
            response = self.client.post("/w/ua-109-23", data=form, headers=SAME_ORIGIN)
        assert response.status_code == 200
        return seen, sign_answer(response.data)


@pytest.fixture
def arranger(
    app: Flask,
    client: FlaskClient,
    supporter: Supporter,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> Arranger:
    # A slow machine must not let the reused campaign and count lapse between one request and
    # the next, which would add reads that are no state's: only changes made in the process
    # (``changes_in_process``) clear them. The run-time limits' periodic look is left out by
    # ``statements`` whenever it comes.
    freeze_reuse(monkeypatch)
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
    # the address in another stored form, the upsert, the mail, the sign receipt (the campaign,
    # its partners and the count the answer shows are the process's: ``widget.public_facts``);
    # then any reads of the answer's own, alike in all
    kinds = [statement.split()[0] for statement in expected]
    assert kinds[:4] == ["SELECT", "INSERT", "INSERT", "INSERT"], expected
    assert "sign_receipt" in expected[3]
    assert set(kinds[4:]) <= {"SELECT"}, expected
    assert "email_key IN" in expected[0]
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
    kinds = [statement.split()[0] for statement in expected]
    assert kinds[:3] == ["SELECT", "INSERT", "INSERT"], expected
    assert "sign_receipt" in expected[2]
    assert set(kinds[3:]) <= {"SELECT"}, expected
    for state, seen in runs.items():
        assert seen == expected, state


def test_a_read_of_the_run_time_limits_on_the_sign_path_would_be_seen(app: Flask) -> None:
    """The filter above leaves out the periodic look alone, not the limits' tables."""
    with statements(app) as seen, db.engine(app).connect() as connection:
        connection.execute(select(RuntimeLimit.value))
        connection.execute(select(LimitAllowance.network))
        connection.execute(VERSION_QUERY)
    assert len(seen) == 2


def test_correcting_runs_the_same_statements_whatever_the_receipts_signature(
    arranger: Arranger, supporter: Supporter, session: Session
) -> None:
    """ "Correct it" deletes only a pending signature its page made, but the time of its answer
    does not say whether the receipt's signature was since confirmed, withdrawn or invalidated,
    nor whether the receipt is one of ours at all."""
    receipts = {"forged": "A" * 32}
    for state, steps in WITH_BUDGET.items():
        email = f"correct@{state}.example.org"
        page = supporter.sign(email=email).get_data(as_text=True)
        receipts[state] = receipt_of(page)
        arranger.run(email, steps[1:])
    # a stranger's sign with a pending address: a receipt that is never found
    receipts["stranger"] = receipt_of(supporter.sign(email="correct@new.example.org").data.decode())
    before = len(session.scalars(select(Signature.id)).all())
    runs = {}
    for state, receipt in receipts.items():
        form = {"receipt": receipt, "email": "x@example.org", "name": "Ayesha Khan"}
        with statements(arranger.app) as seen:
            response = arranger.client.post("/w/ua-109-23/correct", data=form, headers=SAME_ORIGIN)
        assert response.status_code == 200
        runs[state] = seen
    expected = runs["new"]
    assert any(statement.startswith("DELETE") for statement in expected), expected
    for state, seen in runs.items():
        assert seen == expected, state
    # only the two pending signatures their own pages made are gone
    assert len(session.scalars(select(Signature.id)).all()) == before - 2


def test_a_resend_posting_its_receipt_runs_the_same_statements_in_every_state(
    arranger: Arranger, supporter: Supporter
) -> None:
    """ "Send the link again" posts the page's receipt back: looked up, and one receipt row
    stored, in every state alike, whether the receipt is kept (its own signature) or not."""
    other = receipt_of(supporter.sign(email="someone-else@example.org").data.decode())
    runs = {}
    for state, steps in WITH_BUDGET.items():
        email = f"resend@{state}.example.org"
        receipt = other
        if steps:
            receipt = receipt_of(supporter.sign(email=email).data.decode())
            arranger.run(email, steps[1:])
        form = supporter.form(email=email, receipt=receipt, again="y")
        with statements(arranger.app) as seen:
            response = arranger.client.post("/w/ua-109-23", data=form, headers=SAME_ORIGIN)
        assert response.status_code == 200
        runs[state] = seen
    expected = runs["new"]
    kinds = [statement.split()[0] for statement in expected]
    assert kinds[:5] == ["SELECT", "SELECT", "INSERT", "INSERT", "INSERT"], expected
    assert "sign_receipt" in expected[0] and "sign_receipt" in expected[4]
    for state, seen in runs.items():
        assert seen == expected, state
