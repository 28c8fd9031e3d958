"""Recount: every count recomputed from the signatures, drift named (in both directions, in
the total and per action), mended by ``--fix`` in one audited transaction, shown to staff, and
stated in the report."""

from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from widget.campaigns import ACTIONS
from widget.clock import utcnow
from widget.counter import SHARDS, tally
from widget.extensions import db
from widget.models import Audit, Campaign, Count, Signature
from widget.privacy import withdraw_signature
from widget.recount import last_recount, recount
from widget.signing import confirm_signature

from .conftest import StaffActions, form_token

HTTPS = {"base_url": "https://localhost"}
#: the demo campaign offers every action
NONE = dict.fromkeys(ACTIONS, 0)
CAMPAIGN = "/staff/campaigns/ua-109-23"


def signed(
    session: Session,
    email: str,
    actions: list[str],
    *,
    confirm: bool = True,
    slug: str = "ua-109-23",
) -> int:
    """A signature made straight in the database, confirmed through the counter's own path."""
    campaign = session.scalars(select(Campaign).where(Campaign.slug == slug)).one()
    signature = Signature(
        campaign_id=campaign.id,
        email=email,
        email_key=email,
        name="N",
        country="PK",
        actions=actions,
        consent_version="1",
        language="en",
        created_at=utcnow(),
    )
    session.add(signature)
    session.commit()
    if confirm:
        confirm_signature(session, signature.id, now=utcnow())
    return signature.id


def run(app: Flask, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=["recount", "ua-109-23", *args])


def recounts(session: Session) -> list[Audit]:
    session.expire_all()
    return list(session.scalars(select(Audit).where(Audit.action == "recount").order_by(Audit.id)))


def counted(session: Session) -> tuple[int, dict[str, int]]:
    session.expire_all()
    campaign = session.scalars(select(Campaign).where(Campaign.slug == "ua-109-23")).one()
    counts = tally(session, campaign.id, campaign.actions)
    return counts.count, counts.by_action


def tamper(session: Session, action: str, delta: int) -> None:
    """Change one shard's stored count behind the counter's back."""
    row = session.scalars(select(Count).where(Count.action == action).limit(1)).one()
    row.value += delta
    session.commit()


def test_counts_that_agree_exit_0_and_the_agreement_is_recorded(
    app: Flask, session: Session
) -> None:
    signed(session, "a@example.org", ["letter", "email"])
    signed(session, "b@example.org", ["letter"])
    signed(session, "c@example.org", ["call"], confirm=False)
    withdrawn = signed(session, "d@example.org", ["letter"])
    withdraw_signature(session, withdrawn, now=utcnow())
    result = run(app)
    assert result.exit_code == 0, result.output
    assert result.output == "The counts of ua-109-23 agree with its signatures.\n"
    (audit,) = recounts(session)
    assert audit.details == {"campaign": "ua-109-23", "agreed": True, "fixed": False, "drift": []}
    assert audit.actor.startswith("cli:")


def test_a_count_above_its_signatures_is_named_and_mended(app: Flask, session: Session) -> None:
    signed(session, "a@example.org", ["letter", "email"])
    signed(session, "b@example.org", ["letter"])
    tamper(session, "letter", +10)
    found = run(app)
    assert found.exit_code == 1
    assert "letter: counted 12, signatures say 2" in found.output
    assert "mend them with --fix" in found.output
    assert counted(session)[1]["letter"] == 12  # the check changes nothing
    fixed = run(app, "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert "mended letter: counted 12, signatures say 2" in fixed.output
    assert counted(session) == (2, {**NONE, "letter": 2, "email": 1, "call": 0})
    again = run(app)
    assert again.exit_code == 0
    details = [a.details for a in recounts(session)]
    assert [(d["agreed"], d["fixed"]) for d in details] == [
        (False, False),
        (False, True),
        (True, False),
    ]
    assert details[1]["drift"] == ["letter: counted 12, signatures say 2"]


def test_signatures_missing_from_the_count_are_named_and_mended(
    app: Flask, session: Session
) -> None:
    """The other direction: signatures the count lost (here, its rows deleted)."""
    for n in range(11):
        signed(session, f"s{n}@example.org", ["letter"])
    session.execute(delete(Count))
    session.commit()
    found = run(app)
    assert found.exit_code == 1
    assert "signatures: counted 0, signatures say 11" in found.output
    assert "letter: counted 0, signatures say 11" in found.output
    assert run(app, "--fix").exit_code == 0
    assert counted(session) == (11, {**NONE, "letter": 11, "email": 0, "call": 0})
    assert run(app).exit_code == 0


def test_tampered_signatures_are_drift_too(app: Flask, session: Session) -> None:
    """A signature marked withdrawn, or its actions changed, without the counter knowing."""
    first = signed(session, "a@example.org", ["letter"])
    second = signed(session, "b@example.org", ["email"])
    session.execute(update(Signature).where(Signature.id == first).values(withdrawn_at=utcnow()))
    session.execute(update(Signature).where(Signature.id == second).values(actions=["call"]))
    session.commit()
    found = run(app)
    assert found.exit_code == 1
    lines = found.output.splitlines()
    assert "signatures: counted 2, signatures say 1" in lines
    assert "letter: counted 1, signatures say 0" in lines
    assert "email: counted 1, signatures say 0" in lines
    assert "call: counted 0, signatures say 1" in lines
    assert run(app, "--fix").exit_code == 0
    assert counted(session) == (1, {**NONE, "letter": 0, "email": 0, "call": 1})
    assert run(app).exit_code == 0


def test_a_count_in_the_wrong_shard_is_drift(app: Flask, session: Session) -> None:
    """Right in sum, wrong in its shard: a later withdrawal would take from an empty shard."""
    signature_id = signed(session, "a@example.org", ["letter"])
    shard = signature_id % SHARDS
    session.execute(
        update(Count).where(Count.action == "letter").values(shard=(shard + 1) % SHARDS)
    )
    session.commit()
    found = run(app)
    assert found.exit_code == 1
    assert "letter: counted 1, signatures say 1, in other shards" in found.output
    assert run(app, "--fix").exit_code == 0
    withdraw_signature(session, signature_id, now=utcnow())
    assert counted(session) == (0, {**NONE, "letter": 0, "email": 0, "call": 0})
    assert run(app).exit_code == 0


def test_an_unknown_campaign_is_a_clear_error(app: Flask, session: Session) -> None:
    result = app.test_cli_runner().invoke(args=["recount", "nope"])
    assert result.exit_code == 2
    assert "no campaign 'nope'" in result.output
    assert recounts(session) == []


def test_a_fix_racing_confirmations_loses_none(app: Flask, session: Session) -> None:
    """Confirmations in four threads while another mends the count again and again: at the end
    the count is exact (a lost +1 would leave it short, a doubled one long)."""
    ids = [signed(session, f"r{n}@example.org", ["letter"], confirm=False) for n in range(40)]
    tamper_row = signed(session, "seed@example.org", ["letter"])
    assert tamper_row
    done = threading.Event()
    failures: list[BaseException] = []

    def confirm(chunk: list[int]) -> None:
        try:
            with db.sessionmaker(app)() as own:
                for signature_id in chunk:
                    confirm_signature(own, signature_id, now=utcnow())
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    def mend() -> None:
        try:
            with db.sessionmaker(app)() as own:
                campaign = own.scalars(select(Campaign).where(Campaign.slug == "ua-109-23")).one()
                while not done.is_set():
                    recount(own, campaign, now=utcnow(), actor="t", fix=True)
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    mender = threading.Thread(target=mend)
    mender.start()
    workers = [threading.Thread(target=confirm, args=(ids[n::4],)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    done.set()
    mender.join(timeout=120)
    assert failures == []
    assert counted(session) == (41, {**NONE, "letter": 41, "email": 0, "call": 0})
    assert [a.details["fixed"] for a in recounts(session)].count(True) == 0
    assert run(app).exit_code == 0


# --- staff --------------------------------------------------------------------------------------


def press(client, url: str):  # type: ignore[no-untyped-def]
    token = form_token(client.get(CAMPAIGN, **HTTPS).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token}, **HTTPS)


def test_staff_check_the_count_and_see_the_result(staff: StaffActions, session: Session) -> None:
    signed(session, "a@example.org", ["letter"])
    viewer = staff.signed_in("viewer")
    page = viewer.get(CAMPAIGN, **HTTPS).get_data(as_text=True)
    assert "No recount has been run yet." in page
    response = press(viewer, f"{CAMPAIGN}/recount")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("#recount-title")
    page = viewer.get(CAMPAIGN, **HTTPS).get_data(as_text=True)
    assert "The count agrees with the signatures." in page
    assert "by viewer@example.org" in page
    assert recounts(session)[0].actor == "viewer@example.org"


def test_drift_shows_with_a_mend_button_for_admins_only(
    staff: StaffActions, session: Session
) -> None:
    signed(session, "a@example.org", ["letter"])
    tamper(session, "*", +4)
    viewer = staff.signed_in("viewer")
    press(viewer, f"{CAMPAIGN}/recount")
    page = viewer.get(CAMPAIGN, **HTTPS).get_data(as_text=True)
    assert "The count differs from the signatures:" in page
    assert "<li>signatures: counted 5, signatures say 1</li>" in page
    assert "Mend the count" not in page
    assert press(viewer, f"{CAMPAIGN}/recount/fix").status_code == 403
    assert counted(session)[0] == 5
    admin = staff.signed_in("admin")
    assert "Mend the count" in admin.get(CAMPAIGN, **HTTPS).get_data(as_text=True)
    assert press(admin, f"{CAMPAIGN}/recount/fix").status_code == 302
    assert counted(session)[0] == 1
    page = admin.get(CAMPAIGN, **HTTPS).get_data(as_text=True)
    assert "The count was off and has been mended:" in page
    assert recounts(session)[-1].actor == "admin@example.org"


def test_the_recount_buttons_need_their_csrf_token(staff: StaffActions, session: Session) -> None:
    admin = staff.signed_in("admin")
    assert admin.post(f"{CAMPAIGN}/recount", **HTTPS).status_code == 400
    assert (
        admin.post(f"{CAMPAIGN}/recount/fix", data={"csrf_token": "x"}, **HTTPS).status_code == 400
    )
    assert recounts(session) == []


def test_the_report_states_the_last_recount(staff: StaffActions, session: Session) -> None:
    viewer = staff.signed_in("viewer")
    report = f"{CAMPAIGN}/report"
    assert "has not been recounted from the signatures yet" in viewer.get(report, **HTTPS).text
    signed(session, "a@example.org", ["letter"])
    campaign = session.scalars(select(Campaign)).one()
    recount(session, campaign, now=utcnow(), actor="t")
    today = utcnow().strftime("%-d %B %Y")
    assert (
        f"The last recount from the signatures, on {today}, agreed with the count."
        in viewer.get(report, **HTTPS).text
    )
    tamper(session, "*", +1)
    recount(session, campaign, now=utcnow(), actor="t")
    assert "found a difference that has not been corrected yet" in viewer.get(report, **HTTPS).text
    recount(session, campaign, now=utcnow(), actor="t", fix=True)
    assert "found a difference and corrected the count" in viewer.get(report, **HTTPS).text
    assert last_recount(session, campaign).details["fixed"] is True
