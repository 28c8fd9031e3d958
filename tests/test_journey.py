"""After signing (issue 12, "see where you stand"): the check-email page, the sign receipt that
lets the open widget learn of a confirmation, "send the link again", "correct the address",
and a confirm link opened after the close. Tried as a hostile user would."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from widget.campaigns import load_campaign_file
from widget.clock import utcnow
from widget.models import Campaign, OutboxMessage, Signature, SignReceipt
from widget.privacy import Retention, purge, withdraw_signature

from .conftest import DEMO, StaffActions, Supporter
from .test_runtime_limits import LIMITS, post

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
RECEIPT = re.compile(r'data-receipt="([^"]+)"')
RANDOM = re.compile(r'(data-receipt|name="receipt" value|name="csrf_token" value)="[^"]+"')


def receipt_of(page: str) -> str:
    match = RECEIPT.search(page)
    assert match, page
    return match.group(1)


def poll(client: FlaskClient, receipt: str, slug: str = "ua-109-23"):  # type: ignore[no-untyped-def]
    return client.post(f"/w/{slug}/progress", data={"receipt": receipt})


def state(client: FlaskClient, receipt: str, slug: str = "ua-109-23") -> str:
    response = poll(client, receipt, slug)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()["state"]


def confirm_links(session: Session) -> list[str]:
    session.expire_all()
    bodies = session.scalars(select(OutboxMessage.text_body).order_by(OutboxMessage.id))
    return [m.group(1) for body in bodies if (m := re.search(r"https?://[^/\s]+(/v/\S+)", body))]


def confirm(client: FlaskClient, session: Session) -> None:
    response = client.post(confirm_links(session)[-1], headers=SAME_ORIGIN)
    assert response.status_code == 200, response.get_data(as_text=True)


def hidden_fields(page: str, action: str) -> list[tuple[str, str]]:
    """The hidden fields of the form posting to ``action`` on the page."""
    form = re.search(
        rf'<form method="post" action="{re.escape(action)}[^"]*">(.*?)</form>', page, re.S
    )
    assert form, page
    return [
        (name, html.unescape(value))
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(1)
        )
    ]


def test_the_check_email_page_shows_the_address_the_links_life_and_the_count(
    supporter: Supporter,
) -> None:
    page = supporter.sign(email="Ayesha@Example.org").get_data(as_text=True)
    assert '<strong class="typed-address" dir="ltr">Ayesha@Example.org</strong>' in page
    assert "The link works for 7 days." in page
    assert 'data-count="0"' in page
    assert "Send the link again" in page and "The address is wrong: correct it" in page


def test_the_receipt_turns_confirmed_once_the_supporter_confirms(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    receipt = receipt_of(supporter.sign().get_data(as_text=True))
    assert state(client, receipt) == "pending"
    confirm(client, session)
    assert state(client, receipt) == "confirmed"
    # only its hash is stored
    assert session.scalar(select(SignReceipt.hash)) != receipt


def test_forged_malformed_and_foreign_receipts_say_pending(
    app: Flask, client: FlaskClient, supporter: Supporter, session: Session, tmp_path: Path
) -> None:
    receipt = receipt_of(supporter.sign().get_data(as_text=True))
    confirm(client, session)
    other = tmp_path / "other.toml"
    other.write_text(DEMO.read_text().replace('slug = "ua-109-23"', 'slug = "other-action"'))
    load_campaign_file(session, other, utcnow())
    assert state(client, receipt, "other-action") == "pending"
    assert state(client, receipt, "no-such-campaign") == "pending"
    for forged in ["", "x", receipt[:-1] + "A", receipt + "A", "A" * 5000, receipt.upper()]:
        assert state(client, forged) == "pending", forged
    assert client.post("/w/ua-109-23/progress").get_json() == {"state": "pending"}
    # the right receipt still works, as often as asked
    assert [state(client, receipt) for _ in range(3)] == ["confirmed"] * 3


def test_re_signing_a_confirmed_address_never_turns_confirmed(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    confirm(client, session)
    again = receipt_of(Supporter(client).sign().get_data(as_text=True))
    assert state(client, again) == "pending"


def test_an_expired_receipt_says_pending(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    receipt = receipt_of(supporter.sign().get_data(as_text=True))
    confirm(client, session)
    session.execute(update(SignReceipt).values(issued_at=utcnow() - timedelta(days=7, seconds=1)))
    session.commit()
    assert state(client, receipt) == "pending"


def test_erasure_and_purge_remove_receipts(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    receipt = receipt_of(supporter.sign().get_data(as_text=True))
    confirm(client, session)
    signature_id = session.scalar(select(Signature.id))
    withdraw_signature(session, signature_id, now=utcnow())
    assert state(client, receipt) == "pending"
    assert session.scalars(select(SignReceipt)).all() == []

    Supporter(client).sign(email="other@example.org")
    old = utcnow() - timedelta(days=8)
    session.execute(update(SignReceipt).values(issued_at=old))
    session.commit()
    Supporter(client).sign(email="third@example.org")
    purge(session, Retention(), now=utcnow(), actor="test", apply=True)
    assert len(session.scalars(select(SignReceipt)).all()) == 1


def test_the_poll_is_rate_limited(client: FlaskClient) -> None:
    answers = [poll(client, "x").status_code for _ in range(61)]
    assert answers == [200] * 60 + [429]
    refused = poll(client, "x")
    assert refused.get_json() == {"state": "pending"}
    assert int(refused.headers["Retry-After"]) >= 1


def test_send_the_link_again_mails_within_the_budget_and_answers_alike(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    first = supporter.sign().get_data(as_text=True)
    fields = hidden_fields(first, "/w/ua-109-23")
    assert ("email", "ayesha@example.org") in fields and ("again", "y") in fields
    answers = []
    for _ in range(6):
        response = client.post(
            "/w/ua-109-23",
            data=MultiDict(fields_with_fresh_token(fields, answers or [first])),
            headers=SAME_ORIGIN,
        )
        assert response.status_code == 200
        answers.append(response.get_data(as_text=True))
    assert all("we have sent the link again" in page for page in answers)
    # WIDGET_RATELIMIT_MAIL: the default budget, then nothing more, and the same answer
    mails = len(confirm_links(session))
    assert 1 < mails < 7
    assert RANDOM.sub("", answers[-1]) == RANDOM.sub("", answers[1])


def fields_with_fresh_token(
    fields: list[tuple[str, str]], pages: list[str]
) -> list[tuple[str, str]]:
    """The resend form's fields with the token of the latest page (each token is single use)."""
    token = dict(hidden_fields(pages[-1], "/w/ua-109-23"))["csrf_token"]
    return [(k, token if k == "csrf_token" else v) for k, v in fields]


def test_the_answer_is_the_same_for_new_pending_and_confirmed_addresses(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    new = supporter.sign(email="new@example.org").get_data(as_text=True)
    pending = Supporter(client).sign(email="new@example.org").get_data(as_text=True)
    confirm(client, session)
    # the count changed by one in between: compared without the counter
    verified = Supporter(client).sign(email="new@example.org").get_data(as_text=True)

    def plain(page: str) -> str:
        return re.sub(r'<div class="counter".*?</div>', "", RANDOM.sub("", page), flags=re.S)

    assert plain(new) == plain(pending) == plain(verified)


def test_correcting_the_address_drops_the_mistaken_signature_and_keeps_what_was_typed(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    page = supporter.sign(email="ayesha@exmaple.org").get_data(as_text=True)
    fields = hidden_fields(page, "/w/ua-109-23/correct")
    response = client.post("/w/ua-109-23/correct", data=MultiDict(fields), headers=SAME_ORIGIN)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'value="ayesha@exmaple.org"' in body and 'value="Ayesha Khan"' in body
    assert '<option value="PK" selected>' in body
    assert session.scalars(select(Signature)).all() == []
    assert session.scalars(select(OutboxMessage)).all() == []


def test_correcting_never_drops_a_signature_the_page_did_not_make(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()  # the owner's own, pending
    stranger = Supporter(client).sign().get_data(as_text=True)
    fields = hidden_fields(stranger, "/w/ua-109-23/correct")
    assert (
        client.post("/w/ua-109-23/correct", data=MultiDict(fields), headers=SAME_ORIGIN).status_code
        == 200
    )
    assert len(session.scalars(select(Signature)).all()) == 1
    forged = [(k, "forged" if k == "receipt" else v) for k, v in fields]
    assert (
        client.post("/w/ua-109-23/correct", data=MultiDict(forged), headers=SAME_ORIGIN).status_code
        == 200
    )
    assert len(session.scalars(select(Signature)).all()) == 1


def test_correcting_a_confirmed_signature_keeps_it(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    fields = hidden_fields(supporter.sign().get_data(as_text=True), "/w/ua-109-23/correct")
    confirm(client, session)
    client.post("/w/ua-109-23/correct", data=MultiDict(fields), headers=SAME_ORIGIN)
    assert session.scalar(select(Signature.verified_at)) is not None


def test_correcting_from_another_site_is_refused(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    fields = hidden_fields(supporter.sign().get_data(as_text=True), "/w/ua-109-23/correct")
    response = client.post(
        "/w/ua-109-23/correct", data=MultiDict(fields), headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403
    assert len(session.scalars(select(Signature)).all()) == 1


def test_a_confirm_link_opened_after_the_close_says_so_before_any_button(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    supporter.sign()
    session.execute(update(Campaign).values(closes_at=utcnow() - timedelta(minutes=1)))
    session.commit()
    page = client.get(confirm_links(session)[0]).get_data(as_text=True)
    assert '<h1 id="verify-title">This action has closed</h1>' in page
    assert "Signatures can no longer be confirmed" in page
    assert "<button" not in page and "Confirm my signature" not in page
    assert "Withdraw and erase these details" in page


def test_a_shared_network_polls_past_the_limit(staff: StaffActions, client: FlaskClient) -> None:
    """A school's or a campus's many widgets behind one address (an allowed network of shared
    addresses, as for the other per-client limits); outside it the limit holds."""
    admin = staff.signed_in("admin")
    added = post(admin, f"{LIMITS}/allowances", network="192.0.2.0/24", note="Campus Wi-Fi")
    assert added.status_code == 302

    def answers(ip: str) -> list[int]:
        return [
            client.post(
                "/w/ua-109-23/progress", data={"receipt": "x"}, environ_base={"REMOTE_ADDR": ip}
            ).status_code
            for _ in range(61)
        ]

    assert answers("192.0.2.9") == [200] * 61
    assert answers("198.51.100.7") == [200] * 60 + [429]


def test_correct_it_refused_or_too_large_answers_with_the_widgets_own_page(
    staff: StaffActions, client: FlaskClient
) -> None:
    """The same failure pages as the sign form's (``views.embed``): in the widget's language,
    with the way back to the action; not Flask's bare English ones."""
    post(staff.signed_in("admin"), LIMITS, name="ip", value="1 per minute")
    form = {"receipt": "x", "email": "a@example.org"}
    url = "/w/ua-109-23/correct?lang=ur"
    assert client.post(url, data=form, headers=SAME_ORIGIN).status_code == 200
    refused = client.post(url, data=form, headers=SAME_ORIGIN)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    body = refused.get_data(as_text=True)
    assert '<html lang="ur" dir="rtl"' in body and 'href="/w/ua-109-23"' in body
    large = client.post(url, data={"receipt": "x" * 20_000}, headers=SAME_ORIGIN)
    assert large.status_code == 413
    assert 'id="problem-title"' in large.get_data(as_text=True)
    missing = client.post(
        "/w/no-such-action/correct",
        data=form,
        headers=SAME_ORIGIN,
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert missing.status_code == 404 and 'id="problem-title"' in missing.get_data(as_text=True)
