"""The abuse monitor acts (issue 13): an admin takes signatures out of the count by IP hash,
email domain, partner or time window, sees a dry run first, confirms it; one transaction shared
with the ``invalidate`` command, audited. Hostile input is refused, never widened."""

from __future__ import annotations

import html
import re
import threading
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget import counter
from widget.abuse import Selection, SelectionError, check_selection, invalidate
from widget.clock import utcnow
from widget.counter import tally
from widget.extensions import db
from widget.models import Audit, Campaign, Signature

from .conftest import StaffActions, form_token, recount_agrees
from .partners_helpers import HTTPS, OTHER, PARTNER, add_partners, add_signature, partner_login

BAD_IP = "a" * 32
GOOD_IP = "b" * 32
AT = datetime(2026, 11, 20, 9, 0)
MONITOR = "/staff/campaigns/ua-109-23/activity"
PREVIEW = "/staff/campaigns/ua-109-23/invalidate/preview"
CONFIRM = "/staff/campaigns/ua-109-23/invalidate"


@pytest.fixture(autouse=True)
def world(app: Flask) -> None:
    add_partners(app)


def counted(session: Session, email: str, *, verified: bool = True, **fields: object) -> int:
    """A signature as the signing flow leaves it, in the count when verified."""
    signature = add_signature(session, email, verified=verified, **fields)
    if verified:
        counter.add(
            session,
            signature.campaign_id,
            signature.actions,
            shard_key=signature.id,
            now=signature.created_at,
        )
        session.commit()
    return signature.id


def spam_wave(session: Session) -> None:
    """Four bots from one IP at bots.example through the partner, one pending; two people."""
    for n in range(4):
        counted(session, f"bot{n}@bots.example", ip_hash=BAD_IP, at=AT + timedelta(minutes=n))
    counted(session, "bot9@bots.example", ip_hash=BAD_IP, verified=False, at=AT)
    counted(session, "ayesha@example.org", ip_hash=GOOD_IP, partner=None, at=AT)
    counted(session, "omar@example.org", ip_hash=GOOD_IP, partner=OTHER, at=AT, actions=["email"])


def the_count(session: Session) -> int:
    session.expire_all()
    campaign_id = session.scalars(select(Campaign.id)).one()
    return tally(session, campaign_id).count


def audits(session: Session) -> list[tuple[str, dict[str, object]]]:
    session.expire_all()
    rows = session.scalars(select(Audit).where(Audit.action == "invalidate").order_by(Audit.id))
    return [(row.actor, row.details) for row in rows]


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(True))))


def preview(admin: FlaskClient, **criteria: str):  # type: ignore[no-untyped-def]
    token = form_token(admin.get(MONITOR, **HTTPS).get_data(as_text=True))
    return admin.post(PREVIEW, data={"csrf_token": token, **criteria}, **HTTPS)


def hidden_fields(page: str) -> dict[str, str]:
    """The confirm form's fields, as the browser would send them."""
    form = page[page.index(f'action="{CONFIRM}"') :]
    form = form[: form.index("</form>")]
    return dict(re.findall(r'name="([^"]+)"[^>]*? value="([^"]*)"', form))


# --- the page ------------------------------------------------------------------------------------


def test_dry_run_then_confirm_takes_exactly_the_selection_out(
    staff: StaffActions, session: Session
) -> None:
    spam_wave(session)
    admin = staff.signed_in("admin")
    assert the_count(session) == 6

    before = utcnow()
    dry = preview(admin, ip_hash=BAD_IP, domain="BOTS.example", partner=PARTNER)
    after = utcnow()
    assert dry.status_code == 200
    shown = text_of(dry)
    assert "4 confirmed signatures leave the count" in shown
    assert "1 unconfirmed signature can no longer be confirmed" in shown
    assert "The count goes from 6 to 2" in shown
    assert "letter 4 5 1" in shown  # leaves, count now, after
    assert "bots.example and its subdomains" in shown  # the domain in its one spelling
    assert the_count(session) == 6
    assert audits(session) == []

    fields = hidden_fields(dry.get_data(as_text=True))
    # the open end is pinned to the dry run's moment, and the button carries its signed digest
    until = datetime.fromisoformat(fields["until"])
    # (the dry run's moment, rounded up to the whole second: taken while it ran)
    assert before <= until <= after.replace(microsecond=0) + timedelta(seconds=1)
    assert fields["preview"] and "pending" not in fields
    assert "the moment of this dry run" in shown
    done = admin.post(CONFIRM, data=fields, **HTTPS)
    assert done.status_code == 200
    assert "The count went from 6 to 2 ." in text_of(done)
    assert the_count(session) == 2
    assert audits(session) == [
        (
            "admin@example.org",
            {
                "campaign": "ua-109-23",
                "selection": {
                    "ip_hash": BAD_IP,
                    "domain": "bots.example",
                    "partner": PARTNER,
                    "until": str(until),
                },
                "pending": 1,
                "verified": 4,
            },
        )
    ]
    left = session.scalars(select(Signature.email).where(Signature.invalidated_at.is_(None)))
    assert sorted(left) == ["ayesha@example.org", "omar@example.org"]
    assert recount_agrees(session)

    # the same confirmation again (a double click, a replay): the dry run's figures no longer
    # match, nothing happens twice, and the page says what the selection matches now
    replay = admin.post(CONFIRM, data=fields, **HTTPS)
    assert replay.status_code == 409
    assert "changed since you looked" in text_of(replay)
    assert "No signature matches" in text_of(replay)
    assert len(audits(session)) == 1
    assert the_count(session) == 2


def test_a_signature_arriving_between_dry_run_and_confirm_stops_the_confirm(
    staff: StaffActions, session: Session
) -> None:
    spam_wave(session)
    admin = staff.signed_in("admin")
    fields = hidden_fields(preview(admin, domain="bots.example").get_data(as_text=True))
    counted(session, "bot5@bots.example", ip_hash=BAD_IP)
    outdated = admin.post(CONFIRM, data=fields, **HTTPS)
    assert outdated.status_code == 409
    assert "5 confirmed signatures leave the count" in text_of(outdated)
    assert audits(session) == []
    assert the_count(session) == 7
    again = admin.post(CONFIRM, data=hidden_fields(outdated.get_data(as_text=True)), **HTTPS)
    assert again.status_code == 200
    assert the_count(session) == 2


def test_a_confirm_takes_out_only_the_signatures_its_dry_run_showed(
    staff: StaffActions, session: Session
) -> None:
    """The reviewer's case: behind one NAT, a previewed signature is withdrawn and an honest
    one arrives before the confirm. The counts are what the dry run said; the signatures are
    not, so nothing is done and the new dry run is shown."""
    first = counted(session, "bot0@bots.example", ip_hash=BAD_IP)
    counted(session, "bot1@bots.example", ip_hash=BAD_IP)
    admin = staff.signed_in("admin")
    # the admin gave an end in the future: signatures still arrive inside the window
    dry = preview(admin, ip_hash=BAD_IP, until="2099-01-01T00:00")
    assert "2 confirmed signatures leave the count" in text_of(dry)
    fields = hidden_fields(dry.get_data(as_text=True))
    withdrawn = session.get(Signature, first)
    assert withdrawn is not None
    withdrawn.withdrawn_at = utcnow()
    counter.add(
        session, withdrawn.campaign_id, withdrawn.actions, shard_key=first, now=AT, delta=-1
    )
    session.commit()
    honest = counted(session, "neighbour@example.org", ip_hash=BAD_IP, at=AT + timedelta(hours=1))
    outdated = admin.post(CONFIRM, data=fields, **HTTPS)
    assert outdated.status_code == 409
    assert "changed since you looked" in text_of(outdated)
    session.expire_all()
    assert session.get(Signature, honest).invalidated_at is None  # type: ignore[union-attr]
    assert audits(session) == []
    assert the_count(session) == 2
    # a digest made up, or carried over from another campaign's dry run, matches nothing
    for forged in ("", "x" * 40, fields["preview"][:-3] + "abc"):
        data = {**fields, "preview": forged}
        assert admin.post(CONFIRM, data=data, **HTTPS).status_code == (409 if forged else 400)
    assert audits(session) == []


def test_an_open_end_is_pinned_to_the_dry_run(staff: StaffActions, session: Session) -> None:
    """With no "until", a signature made after the dry run is not taken out by the confirm."""
    counted(session, "bot0@bots.example", ip_hash=BAD_IP)
    admin = staff.signed_in("admin")
    fields = hidden_fields(preview(admin, ip_hash=BAD_IP).get_data(as_text=True))
    later = counted(session, "late@example.org", ip_hash=BAD_IP, at=utcnow() + timedelta(seconds=5))
    done = admin.post(CONFIRM, data=fields, **HTTPS)
    assert done.status_code == 200
    assert "The count went from 2 to 1 ." in text_of(done)
    session.expire_all()
    assert session.get(Signature, later).invalidated_at is None  # type: ignore[union-attr]


def test_a_row_of_the_monitor_fills_the_form(staff: StaffActions, session: Session) -> None:
    for n in range(5):
        counted(session, f"bot{n}@bots.example", ip_hash=BAD_IP, at=datetime.now())
    admin = staff.signed_in("admin")
    page = admin.get(MONITOR, **HTTPS).get_data(as_text=True)
    link = f"{MONITOR}?hours=1.0&amp;ip_hash={BAD_IP}#take-out"
    assert link in page
    filled = admin.get(html.unescape(link), **HTTPS).get_data(as_text=True)
    assert re.search(f'name="ip_hash" [^>]*value="{BAD_IP}"', filled)


#: selections refused, with what the page says
REFUSED = [
    ({}, "Give at least one of: IP hash, domain, partner, time window."),
    ({"ip_hash": "   "}, "Give at least one of"),
    ({"ip_hash": "(none)"}, "An IP hash is 32 characters"),
    ({"ip_hash": BAD_IP.upper()}, "An IP hash is 32 characters"),
    ({"ip_hash": BAD_IP + "%"}, "An IP hash is 32 characters"),
    ({"domain": "(sealed)"}, "Give the domain as in an address"),
    ({"domain": "%"}, "Give the domain as in an address"),
    ({"domain": "_.example"}, "Give the domain as in an address"),
    ({"domain": "com"}, "Give the domain as in an address"),
    ({"domain": "x" * 301}, "Field cannot be longer than 300 characters."),
    ({"partner": "no-such-site"}, "Not a valid choice."),
    ({"partner": "NEWS-SITE"}, "Not a valid choice."),
    ({"since": "2026-11-20T09:00"}, "A time window alone needs both its start and its end."),
    ({"until": "2026-11-20T09:00"}, "A time window alone needs both its start and its end."),
    (
        {"since": "2000-01-01T00:00", "until": "2100-01-01T00:00"},
        "A time window alone may span at most 48 hours",
    ),
    (
        {"since": "2026-11-20T10:00", "until": "2026-11-20T09:00", "ip_hash": BAD_IP},
        "The time window must start before it ends.",
    ),
    ({"since": "yesterday", "until": "2026-11-20T09:00"}, "Not a valid datetime value."),
]


def test_a_selection_that_could_take_out_everything_or_nothing_meant_is_refused(
    staff: StaffActions, session: Session
) -> None:
    spam_wave(session)
    admin = staff.signed_in("admin")
    token = form_token(admin.get(MONITOR, **HTTPS).get_data(as_text=True))
    for criteria, message in REFUSED:
        refused = admin.post(PREVIEW, data={"csrf_token": token, **criteria}, **HTTPS)
        assert refused.status_code == 400, criteria
        assert message in text_of(refused), criteria
        assert f'action="{CONFIRM}"' not in refused.get_data(as_text=True)
        # and the confirm endpoint refuses the same, with made-up dry-run figures
        forged = {"csrf_token": token, "preview": "forged", **criteria}
        assert admin.post(CONFIRM, data=forged, **HTTPS).status_code == 400, criteria
    assert the_count(session) == 6
    assert audits(session) == []


def test_a_48_hour_window_alone_is_taken_out(staff: StaffActions, session: Session) -> None:
    spam_wave(session)
    counted(session, "early@example.org", at=AT - timedelta(hours=1))
    admin = staff.signed_in("admin")
    dry = preview(admin, since="2026-11-20T09:00", until="2026-11-22T09:00")
    assert "6 confirmed signatures leave the count" in text_of(dry)
    assert admin.post(CONFIRM, data=hidden_fields(dry.get_data(True)), **HTTPS).status_code == 200
    assert the_count(session) == 1


def test_a_unicode_domain_is_found_however_staff_spell_it(
    staff: StaffActions, session: Session
) -> None:
    counted(session, "leser@bücher.example")
    counted(session, "leser@shop.xn--bcher-kva.example")
    counted(session, "leser@notbücher.example")
    admin = staff.signed_in("admin")
    for spelling in [
        "bücher.example",
        "BÜCHER.EXAMPLE",
        "xn--bcher-kva.example",
        "ｂüｃｈｅｒ.example",
        "bücher.example.",
    ]:
        dry = preview(admin, domain=spelling)
        assert dry.status_code == 200
        assert "2 confirmed signatures leave the count" in text_of(dry), spelling
        assert "xn--bcher-kva.example and its subdomains" in text_of(dry), spelling


def test_forged_or_missing_form_tokens_change_nothing(
    staff: StaffActions, session: Session
) -> None:
    spam_wave(session)
    admin = staff.signed_in("admin")
    fields = hidden_fields(preview(admin, ip_hash=BAD_IP).get_data(as_text=True))
    for token in ("", "forged", fields["csrf_token"][:-2] + "xx"):
        response = admin.post(CONFIRM, data={**fields, "csrf_token": token}, **HTTPS)
        assert response.status_code == 400
        assert "The form had expired" in text_of(response)
    # another admin's token is not this admin's
    other = staff.client()
    staff.create("second@example.org")
    staff.login("second@example.org", client=other)
    assert other.post(CONFIRM, data=fields, **HTTPS).status_code == 400
    assert the_count(session) == 6
    assert audits(session) == []


@pytest.mark.parametrize("url", [MONITOR, PREVIEW, CONFIRM])
def test_viewers_and_partner_accounts_get_403(
    staff: StaffActions, session: Session, url: str
) -> None:
    spam_wave(session)
    for browser in (staff.signed_in("viewer"), partner_login(staff)):
        token = form_token(browser.get("/staff/password", **HTTPS).get_data(as_text=True))
        data = {"csrf_token": token, "ip_hash": BAD_IP, "preview": "forged"}
        response = browser.open(url, method="GET" if url == MONITOR else "POST", data=data, **HTTPS)
        assert response.status_code == 403
        assert BAD_IP not in response.get_data(as_text=True)
    assert the_count(session) == 6
    assert audits(session) == []


# --- the command shares the implementation -------------------------------------------------------


def test_the_command_refuses_what_the_page_refuses(app: Flask, session: Session) -> None:
    spam_wave(session)
    runner = app.test_cli_runner()
    wide = runner.invoke(
        args=["invalidate", "ua-109-23", "--since", "2000-01-01", "--until", "2100-01-01"]
    )
    assert wide.exit_code == 2
    assert "A time window alone may span at most 48 hours" in wide.output
    unknown = runner.invoke(args=["invalidate", "ua-109-23", "--partner", "nope", "--apply"])
    assert unknown.exit_code == 2
    assert "No partner 'nope'." in unknown.output
    idna = runner.invoke(args=["invalidate", "ua-109-23", "--domain", "BOTS.Example", "--apply"])
    assert idna.output.startswith("Invalidated 4 verified signatures (letter 4) and 1 pending")
    assert the_count(session) == 2


def test_check_selection_keeps_what_it_is_given() -> None:
    given = Selection(BAD_IP, "Bücher.Example", PARTNER, AT, AT + timedelta(hours=1))
    assert check_selection(given) == Selection(
        BAD_IP, "xn--bcher-kva.example", PARTNER, AT, AT + timedelta(hours=1)
    )
    with pytest.raises(SelectionError):
        check_selection(Selection())


def test_concurrent_invalidations_take_each_signature_out_once(
    app: Flask, session: Session
) -> None:
    """Two admins confirm overlapping selections at once: every signature leaves once, and
    the recount agrees with the count."""
    for n in range(12):
        counted(session, f"bot{n}@bots.example", ip_hash=BAD_IP if n % 2 else GOOD_IP)
    barrier = threading.Barrier(2)
    results = []

    def run(selection: Selection) -> None:
        with app.app_context(), db.sessionmaker(app)() as own:
            campaign = own.scalars(select(Campaign)).one()
            barrier.wait()
            results.append(
                invalidate(own, campaign, selection, now=AT, actor="t", apply=True).verified
            )

    threads = [
        threading.Thread(target=run, args=(Selection(domain="bots.example"),)),
        threading.Thread(target=run, args=(Selection(ip_hash=BAD_IP),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 12
    assert the_count(session) == 0
    assert recount_agrees(session)
