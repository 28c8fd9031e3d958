"""Staff: the campaign editor (targets as groups of fields, texts per language in tabs) and its
live preview, which draws the widget page from the unsaved form and stores nothing."""

from __future__ import annotations

import tomllib
from datetime import UTC
from typing import Any

from flask import abort, g, jsonify, redirect, render_template, request, url_for
from flask_babel import refresh
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Optional

from ... import LOCALES, widget_state
from ...campaign_editor import (
    COMPLETE_FIELDS,
    MAX_TARGETS,
    PREVIEW_MAX_BYTES,
    TAB_FIELDS,
    error_key,
    languages_of,
    missing_texts,
    rearranged,
    salutation_lines,
    tab_translations,
    target_rows,
    unsaved_campaign,
)
from ...campaigns import ACTIONS, CampaignFileError, save_campaign
from ...clock import utcnow
from ...extensions import db
from ...forms import make_sign_form
from ...models import Campaign
from ..embed import render_widget
from . import StaffForm, admin_required, bp
from .campaigns import campaign_or_404


class TargetForm(Form):
    """One person to contact; the rules are ``widget.campaigns._targets``."""

    name = StringField("Name")
    title = StringField("Title or office")
    salutation = StringField("Salutation, e.g. Your Excellency")
    address = TextAreaField("Postal address")
    email = StringField("Email")
    phone = StringField("Phone")
    fax = StringField("Fax")
    social = StringField("Social media handle (@name on X, @name.bsky.social on Bluesky)")
    salutations = TextAreaField(
        "Salutation in the campaign's other languages, one a line, e.g. ur: محترم سفیر صاحب"
    )


class Texts(Form):
    """The texts a campaign gives in each of its languages: its own, and the tabs."""

    title = StringField("Title")
    summary = TextAreaField("Summary")
    ask = TextAreaField("What supporters are asked to do")
    sample_letter = TextAreaField(
        "Sample letter, without the salutation (each target's own is put before it)"
    )
    call_script = TextAreaField("What to say on the phone (call script)")
    additional_info = TextAreaField("Additional information")
    deadline_note = TextAreaField("Deadline, as you want supporters to read it")


class TextsForm(Texts):
    """The campaign's texts in one of its other languages (``[translations.<lang>]``)."""

    language = HiddenField()


class CampaignForm(StaffForm, Texts):
    """The editor; the rules live in ``widget.campaigns.parse_campaign`` (one place)."""

    slug = StringField("Short name in URLs (cannot change later)")
    reference = StringField("Reference, e.g. UA 109.23")
    goal = IntegerField("Goal (verified signatures)", validators=[Optional()])
    count_offline_in_widget = BooleanField("The widget also shows the actions taken offline")
    closes_at = DateTimeLocalField("Closes at (UTC; empty keeps it open)", validators=[Optional()])
    languages = StringField("Languages, first is the campaign's own (e.g. en, ur, fa)")
    allowed_origins = TextAreaField('Sites that may embed it, one per line ("*" for any)')
    targets = FieldList(FormField(TargetForm), min_entries=1, max_entries=MAX_TARGETS)
    translations = FieldList(FormField(TextsForm))
    upload = FileField("…or upload a campaign TOML file")


@bp.route("/campaigns/new", methods=["GET", "POST"])
@admin_required
def new_campaign() -> Any:
    return edit(None)


@bp.route("/campaigns/<slug>/edit", methods=["GET", "POST"])
@admin_required
def edit_campaign(slug: str) -> Any:
    return edit(campaign_or_404(slug))


def edit(campaign: Campaign | None) -> Any:
    form = CampaignForm(data=form_data(campaign) if campaign and request.method == "GET" else None)
    errors: dict[str, str] = {}
    command = request.form.get("editor") if request.method == "POST" else None
    valid = form.validate_on_submit()
    if command and "csrf_token" not in form.errors:
        # "Add a target", "Remove", "Move up/down", "Show the language tabs": the same form
        # again, rearranged, with everything typed; nothing is saved.
        rows = rearranged([entry.data for entry in form.targets], command)
        if rows is not None:
            set_entries(form.targets, rows)
    elif valid and not command:
        sync_tabs(form)
        languages = languages_of(form.languages.data)
        try:
            data = uploaded(form) or submitted(form, campaign)
            saved, _created = save_campaign(
                db.session,
                data,
                utcnow(),
                actor=g.staff.email,
                only_new=campaign is None,
                expected_slug=campaign.slug if campaign else None,
            )
        except CampaignFileError as error:
            db.session.rollback()
            errors[error_key(error.field, languages)] = str(error)
        else:
            return redirect(url_for("staff.campaign", slug=saved.slug))
    sync_tabs(form)
    status = 400 if errors or form.errors else 200
    return render_template(
        "staff/edit.html",
        form=form,
        campaign=campaign,
        errors=errors,
        actions=ACTIONS,
        chosen=request.form.getlist("actions")
        if request.method == "POST"
        else (campaign.actions if campaign else list(ACTIONS)),
        tabs=language_tabs(form),
        complete_fields=COMPLETE_FIELDS,
        tab_fields=TAB_FIELDS,
        preview_languages=[code for code in languages_of(form.languages.data) if code in LOCALES],
    ), status


@bp.post("/campaigns/preview")
@admin_required
def preview_new() -> Any:
    return preview(None)


@bp.post("/campaigns/<slug>/preview")
@admin_required
def preview_campaign(slug: str) -> Any:
    return preview(campaign_or_404(slug))


def preview(saved: Campaign | None) -> Any:
    """The widget page as the form would make it, for the editor's iframe: nothing is stored
    (the campaign is never added to the session), and a body too big is not read."""
    if (request.content_length or 0) > PREVIEW_MAX_BYTES:
        abort(413)
    form = CampaignForm()
    if not form.validate_on_submit():
        return jsonify(error="The form has expired or is not valid; reload the page."), 400
    sync_tabs(form)
    try:
        campaign = unsaved_campaign(submitted(form, saved), saved)
    except CampaignFileError as error:
        return jsonify(
            error=str(error), field=error_key(error.field, campaign_languages(form))
        ), 400
    wanted = request.form.get("preview_lang")
    spoken = [code for code in campaign.languages if code in LOCALES] or [LOCALES[0]]
    g.widget_locale = wanted if wanted in spoken else spoken[0]
    refresh()  # the form's checks asked Flask-Babel for the language already; ask again
    sign_form = make_sign_form(campaign, widget_state().form_tokens, g.widget_locale, formdata=None)
    body, _status = render_widget(campaign, sign_form, None)
    db.session.rollback()
    return jsonify(html=body, language=g.widget_locale)


def campaign_languages(form: CampaignForm) -> list[str]:
    return languages_of(form.languages.data)


def set_entries(field: FieldList, rows: list[dict[str, Any]]) -> None:
    """Replace a FieldList's groups, renumbered from 0, keeping what each holds."""
    while field.entries:
        field.pop_entry()
    for row in rows:
        field.append_entry(row)


def sync_tabs(form: CampaignForm) -> None:
    """One tab per other language of the languages field, each keeping what was typed in it."""
    typed = {entry.data.get("language"): entry.data for entry in form.translations}
    languages = list(dict.fromkeys(languages_of(form.languages.data)))[1:]
    set_entries(
        form.translations, [{**typed.get(code, {}), "language": code} for code in languages]
    )


def language_tabs(form: CampaignForm) -> list[dict[str, Any]]:
    """The tabs: the campaign's own language (the main fields), then each other language."""
    languages = list(dict.fromkeys(languages_of(form.languages.data))) or ["en"]
    own = {key: form[key] for key in TAB_FIELDS}
    tabs = [{"language": languages[0], "fields": own, "index": None}]
    for index, entry in enumerate(form.translations):
        fields = {key: entry.form[key] for key in TAB_FIELDS}
        tabs.append({"language": entry.data["language"], "fields": fields, "index": index})
    for tab in tabs:
        tab["missing"] = missing_texts({key: f.data for key, f in tab["fields"].items()})
    return tabs


def uploaded(form: CampaignForm) -> dict[str, Any] | None:
    file = form.upload.data
    if not file or not getattr(file, "filename", ""):
        return None
    try:
        return tomllib.loads(file.read().decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CampaignFileError("upload", f"not a valid TOML file ({error})") from None


def submitted(form: CampaignForm, campaign: Campaign | None) -> dict[str, Any]:
    languages = languages_of(form.languages.data)
    data: dict[str, Any] = {
        "slug": campaign.slug if campaign else (form.slug.data or "").strip(),
        "reference": form.reference.data,
        "title": form.title.data,
        "summary": form.summary.data,
        "ask": form.ask.data,
        "sample_letter": form.sample_letter.data,
        "call_script": form.call_script.data,
        "additional_info": form.additional_info.data,
        "deadline_note": form.deadline_note.data,
        "languages": languages,
        "actions": request.form.getlist("actions"),
        "allowed_origins": (form.allowed_origins.data or "").split(),
        "targets": target_rows([entry.data for entry in form.targets]),
        "translations": tab_translations([entry.data for entry in form.translations], languages),
        "count_offline_in_widget": bool(form.count_offline_in_widget.data),
    }
    if form.goal.data is not None:
        data["goal"] = form.goal.data
    if form.closes_at.data:
        data["closes_at"] = form.closes_at.data.replace(tzinfo=UTC)
    if campaign and campaign.opens_at:
        data["opens_at"] = campaign.opens_at.replace(tzinfo=UTC)
    return data


def form_data(campaign: Campaign) -> dict[str, Any]:
    translations = campaign.translations or {}
    return {
        "slug": campaign.slug,
        "reference": campaign.reference,
        "title": campaign.title,
        "summary": campaign.summary,
        "ask": campaign.ask,
        "sample_letter": campaign.sample_letter,
        "call_script": campaign.call_script,
        "additional_info": campaign.additional_info,
        "deadline_note": campaign.deadline_note,
        "goal": campaign.goal,
        "count_offline_in_widget": campaign.count_offline_in_widget,
        "closes_at": campaign.closes_at,
        "languages": ", ".join(campaign.languages),
        "allowed_origins": "\n".join(campaign.allowed_origins),
        "targets": [
            {**target, "salutations": salutation_lines(target.get("salutations"))}
            for target in campaign.targets
        ],
        "translations": [
            {**translations.get(code, {}), "language": code} for code in campaign.languages[1:]
        ],
    }
