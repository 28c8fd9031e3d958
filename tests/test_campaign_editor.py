"""The campaign editor without TOML: targets as groups of fields (added, removed and moved by
plain submit buttons), texts per language in tabs, and the preview that stores nothing."""

from __future__ import annotations

import html
import io

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from widget.campaign_editor import PREVIEW_MAX_BYTES, error_key, missing_texts, rearranged
from widget.models import Audit, Campaign

from .conftest import StaffActions, form_token
from .test_staff import HTTPS, get, post

NEW = "/staff/campaigns/new"
EDIT = "/staff/campaigns/ua-109-23/edit"
URDU_TITLE = "افغان پناہ گزینوں کی ملک بدری روکیں"
#: a new campaign in English and Urdu with two targets, every value a form field
NEW_FORM: dict[str, object] = {
    "slug": "ua-110-24",
    "reference": "UA 110.24",
    "languages": "en, ur",
    "title": "Release the students",
    "summary": "Two students are held.",
    "ask": "Write to the minister.",
    "sample_letter": "Dear Minister,",
    "deadline_note": "Until 1 March",
    "translations-0-language": "ur",
    "translations-0-title": URDU_TITLE,
    "translations-0-summary": "دو طلبہ قید ہیں",
    "translations-0-ask": "وزیر کو لکھیں",
    "targets-0-name": "Minister of the Interior",
    "targets-0-title": "Minister",
    "targets-0-salutation": "Dear Minister",
    "targets-0-address": "1 Main Road\nIslamabad",
    "targets-0-email": "minister@example.org",
    "targets-1-name": "Ambassador",
    "targets-1-phone": "+1 202 243 6500",
    "targets-1-fax": "+1 202 243 6501",
    "targets-1-social": "@embassy",
    "actions": ["letter", "email"],
    "allowed_origins": "*",
}


def page_of(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def count(session: Session, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def audited_changes(session: Session) -> int:
    """Audit rows but the sign-ins' (tests/test_signin_audit.py)."""
    session.expire_all()
    changes = select(func.count()).select_from(Audit).where(~Audit.action.like("signin%"))
    return session.scalar(changes) or 0


def test_a_campaign_with_two_targets_and_an_urdu_tab_is_made_from_form_fields(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    form_page = page_of(get(admin, NEW))
    assert "[[targets]]" not in form_page
    assert 'name="targets-0-name"' in form_page
    response = post(admin, NEW, NEW_FORM)
    assert response.status_code == 302
    session.expire_all()
    campaign = session.scalars(select(Campaign).where(Campaign.slug == "ua-110-24")).one()
    assert campaign.targets == [
        {
            "name": "Minister of the Interior",
            "title": "Minister",
            "salutation": "Dear Minister",
            "address": "1 Main Road\nIslamabad",
            "email": "minister@example.org",
        },
        {
            "name": "Ambassador",
            "phone": "+1 202 243 6500",
            "fax": "+1 202 243 6501",
            "social": "@embassy",
        },
    ]
    assert campaign.translations == {
        "ur": {"title": URDU_TITLE, "summary": "دو طلبہ قید ہیں", "ask": "وزیر کو لکھیں"}
    }
    assert campaign.languages == ["en", "ur"]
    edit_page = page_of(get(admin, "/staff/campaigns/ua-110-24/edit"))
    assert f'name="translations-0-title" type="text" value="{URDU_TITLE}"' in edit_page
    assert "Missing: sample letter, deadline note" in edit_page
    assert "Complete: all five texts are filled in." in edit_page
    assert 'value="+1 202 243 6501"' in edit_page


def test_add_remove_and_move_are_buttons_that_keep_everything_and_save_nothing(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    response = post(admin, NEW, {**NEW_FORM, "editor": "add"})
    assert response.status_code == 200
    page = page_of(response)
    assert 'name="targets-2-name" type="text" value=""' in page
    assert 'value="Minister of the Interior"' in page
    assert f'value="{URDU_TITLE}"' in page
    assert "1 Main Road\nIslamabad</textarea>" in page
    assert count(session, Campaign) == 1

    moved = page_of(post(admin, NEW, {**NEW_FORM, "editor": "down-0"}))
    assert 'id="targets-0-name" name="targets-0-name" type="text" value="Ambassador"' in moved
    assert 'name="targets-1-name" type="text" value="Minister of the Interior"' in moved
    assert 'name="targets-1-email" type="text" value="minister@example.org"' in moved
    up = page_of(post(admin, NEW, {**NEW_FORM, "editor": "up-1"}))
    assert 'name="targets-0-name" type="text" value="Ambassador"' in up
    removed = page_of(post(admin, NEW, {**NEW_FORM, "editor": "remove-0"}))
    assert 'name="targets-0-name" type="text" value="Ambassador"' in removed
    assert "targets-1-name" not in removed
    assert "Minister of the Interior" not in removed
    for forged in ("remove-9", "up-x", "remove--1", "down-1\n", "drop-0", "remove-0000"):
        same = page_of(post(admin, NEW, {**NEW_FORM, "editor": forged}))
        assert 'name="targets-0-name" type="text" value="Minister of the Interior"' in same
        assert 'name="targets-1-name" type="text" value="Ambassador"' in same
    assert count(session, Campaign) == 1
    assert audited_changes(session) == 0


def test_the_language_tabs_follow_the_languages_field_keeping_what_was_typed(
    staff: StaffActions,
) -> None:
    admin = staff.signed_in()
    page = page_of(post(admin, NEW, {**NEW_FORM, "languages": "en, fa, ur", "editor": "languages"}))
    assert 'name="translations-0-language" type="hidden" value="fa"' in page
    assert 'name="translations-1-language" type="hidden" value="ur"' in page
    assert f'name="translations-1-title" type="text" value="{URDU_TITLE}"' in page
    assert "Persian" in page
    dropped = page_of(post(admin, NEW, {**NEW_FORM, "languages": "en", "editor": "languages"}))
    assert "translations-0" not in dropped


def test_an_error_in_a_target_group_is_shown_next_to_its_field_with_everything_kept(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    response = post(admin, NEW, {**NEW_FORM, "targets-1-email": "someone?cc=x@example.org"})
    assert response.status_code == 400
    page = page_of(response)
    assert '<p class="error" id="targets-1-email-error">targets[2].email:' in page
    assert 'aria-describedby="targets-1-email-error" aria-invalid="true"' in page
    assert '<a href="#targets-1-email">' in page
    assert 'value="someone?cc=x@example.org"' in page
    assert 'value="Minister of the Interior"' in page and f'value="{URDU_TITLE}"' in page
    assert count(session, Campaign) == 1

    nameless = post(admin, NEW, {**NEW_FORM, "targets-0-name": " "})
    assert '<p class="error" id="targets-0-name-error">targets[1].name: is required' in page_of(
        nameless
    )
    broken = post(admin, NEW, {**NEW_FORM, "translations-0-title": "one\nline"})
    assert broken.status_code == 400
    assert (
        '<p class="error" id="translations-0-title-error">translations.ur.title: must be one '
        "line: remove the line break</p>"
    ) in page_of(broken)
    too_long = post(admin, NEW, {**NEW_FORM, "targets-0-fax": "1" * 1001})
    assert 'id="targets-0-fax-error">targets[1].fax: must be text up to 1000' in page_of(too_long)
    assert count(session, Campaign) == 1


def preview(client: FlaskClient, form: dict[str, object], url: str = "/staff/campaigns/preview"):  # type: ignore[no-untyped-def]
    token = form_token(get(client, NEW).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **form}, **HTTPS)


def test_the_preview_draws_the_typed_campaign_escaped_and_stores_nothing(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    typed = {**NEW_FORM, "title": "Free <script>alert(1)</script> now"}
    response = preview(admin, typed)
    assert response.status_code == 200
    body = response.get_json()["html"]
    assert '<h1 lang="en" dir="ltr">Free &lt;script&gt;alert(1)&lt;/script&gt; now</h1>' in body
    assert "<script>alert" not in body
    assert "Minister of the Interior" in body
    urdu = preview(admin, {**typed, "preview_lang": "ur"}).get_json()
    assert urdu["language"] == "ur"
    assert f'<h1 lang="ur" dir="rtl">{URDU_TITLE}</h1>' in urdu["html"]
    assert '<html lang="ur" dir="rtl"' in urdu["html"]
    unknown = preview(admin, {**typed, "preview_lang": "de"}).get_json()
    assert unknown["language"] == "en"

    saved = preview(
        admin, {**typed, "title": "Typed, not saved"}, "/staff/campaigns/ua-109-23/preview"
    )
    assert saved.status_code == 200
    assert "Typed, not saved" in saved.get_json()["html"]
    assert count(session, Campaign) == 1
    assert session.scalars(select(Campaign.title)).one() == "Stop deporting Afghan refugees"
    assert audited_changes(session) == 0


def test_the_preview_says_what_is_wrong_instead_of_drawing(staff: StaffActions) -> None:
    admin = staff.signed_in()
    response = preview(admin, {**NEW_FORM, "targets-1-email": "not an address"})
    assert response.status_code == 400
    assert response.get_json()["field"] == "targets-1-email"
    assert response.get_json()["error"].startswith("targets[2].email: 'not an address'")
    assert "html" not in response.get_json()


def test_the_preview_is_for_admins_with_a_token_and_a_small_body(
    staff: StaffActions, session: Session
) -> None:
    viewer = staff.signed_in("viewer")
    token = form_token(get(viewer, "/staff/").get_data(as_text=True))
    refused = viewer.post(
        "/staff/campaigns/preview", data={"csrf_token": token, **NEW_FORM}, **HTTPS
    )
    assert refused.status_code == 403
    assert (
        staff.client().post("/staff/campaigns/preview", data=NEW_FORM, **HTTPS).status_code == 302
    )
    admin = staff.signed_in()
    no_token = admin.post("/staff/campaigns/preview", data=NEW_FORM, **HTTPS)
    assert no_token.status_code == 400
    assert "html" not in no_token.get_json()
    forged = admin.post(
        "/staff/campaigns/preview", data={"csrf_token": "x" * 40, **NEW_FORM}, **HTTPS
    )
    assert forged.status_code == 400
    big = preview(admin, {**NEW_FORM, "sample_letter": "x" * PREVIEW_MAX_BYTES})
    assert big.status_code == 413
    # a GET is the page of a campaign called "preview", which does not exist; it draws nothing
    assert admin.get("/staff/campaigns/preview", **HTTPS).status_code == 404
    assert admin.post("/staff/campaigns/no-such/preview", data=NEW_FORM, **HTTPS).status_code == 404
    assert count(session, Campaign) == 1


def test_the_rules_of_the_rows() -> None:
    rows = [{"name": "A"}, {"name": "B"}, {"name": "C"}]
    assert rearranged(rows, "up-0") == rows
    assert rearranged(rows, "down-2") == rows
    assert rearranged(rows, "up-2") == [{"name": "A"}, {"name": "C"}, {"name": "B"}]
    assert rearranged([{"name": "A"}], "remove-0") == [{}]
    assert rearranged(rows, "remove-3") is None
    assert rearranged(rows, "add") == [*rows, {}]
    assert rearranged([{}] * 30, "add") == [{}] * 30
    assert error_key("targets[3].phone", ["en"]) == "targets-2-phone"
    assert error_key("translations.fa.ask", ["en", "ur", "fa"]) == "translations-1-ask"
    assert error_key("translations.de.ask", ["en", "ur"]) == "translations"
    assert error_key("goal", ["en"]) == "goal"
    assert missing_texts({"title": "T", "summary": " ", "ask": "A"}) == [
        "summary",
        "sample_letter",
        "deadline_note",
    ]


def test_a_file_sent_as_a_target_field_is_refused_next_to_it(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    token = form_token(get(admin, NEW).get_data(as_text=True))
    data = {**NEW_FORM, "csrf_token": token, "targets-1-name": (io.BytesIO(b"x"), "a.txt")}
    response = admin.post(NEW, data=data, content_type="multipart/form-data", **HTTPS)
    assert response.status_code == 400
    page = page_of(response)
    assert 'id="targets-1-name-error">targets[2].name: must be text up to 1000' in page
    assert 'value="Minister of the Interior"' in page
    assert count(session, Campaign) == 1
