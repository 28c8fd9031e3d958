"""The supporter's pages: the widget drawn in the iframe, the sign form, the confirm link."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    make_response,
    render_template,
    request,
    send_from_directory,
)

from .. import LOCALES, abuse, limits, partners, paths, signing, widget_state
from ..campaigns import find_campaign
from ..clock import utcnow
from ..counter import tally
from ..extensions import db
from ..forms import make_sign_form
from ..models import Campaign
from ..notices import MailNotices
from ..security import is_same_origin
from ..themes import parse_theme
from ..tokens import link_payload
from . import absolute_url, our_origin, protect, render_message, signature_from_link

log = logging.getLogger(__name__)

bp = Blueprint(
    "widget",
    __name__,
    static_folder=str(paths.STATIC),
    static_url_path="/static",
    template_folder=str(paths.TEMPLATES),
)


protect(bp)


def campaign_or_404(slug: str) -> Campaign:
    campaign = find_campaign(db.session, slug, now=utcnow())
    if campaign is None:
        abort(404)
    g.widget_locale = choose_locale(campaign)
    return campaign


def choose_locale(campaign: Campaign) -> str:
    """``?lang=`` (from ``data-lang``) if we speak it, else the browser's preference among the
    campaign's languages, else the campaign's first language we speak, else English."""
    offered = [code for code in campaign.languages if code in LOCALES] or [LOCALES[0]]
    wanted = request.args.get("lang")
    if wanted in LOCALES:
        return wanted
    return request.accept_languages.best_match(offered) or offered[0]


def allow_framing(campaign: Campaign) -> None:
    """``Content-Security-Policy: frame-ancestors`` (X-Frame-Options cannot list origins)."""
    origins = partners.frame_ancestors(db.session, campaign)
    g.frame_ancestors = "*" if origins == ["*"] else " ".join(["'self'", *origins])


def render_widget(
    campaign: Campaign,
    form: object,
    source: str | None,
    status: int = 200,
    rate_limited: int | None = None,
    failure: str | None = None,
) -> tuple[str, int]:
    allow_framing(campaign)
    return render_template(
        "widget/page.html",
        campaign=campaign,
        form=form,
        source=source,
        tally=tally(db.session, campaign.id, campaign.actions),
        is_open=campaign.is_open(utcnow()),
        query=widget_query(),
        theme=parse_theme(request.args.get("theme")),
        rate_limited=rate_limited,
        failure=failure,
    ), status


#: the query parameters the widget page understands, carried from the page to its form
WIDGET_PARAMS = ("partner", "lang", "theme", "host")


def widget_query() -> dict[str, str]:
    return {key: request.args[key][:200] for key in WIDGET_PARAMS if request.args.get(key)}


def posted_source() -> str | None:
    return partners.source_url(request.form.get("source"), our_origin())


@bp.get("/embed.js")
def embed_js() -> Response:
    response = send_from_directory(paths.STATIC, "embed.js", max_age=300)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/w/<slug>")
def page(slug: str) -> tuple[str, int]:
    campaign = campaign_or_404(slug)
    form = make_sign_form(campaign, widget_state().form_tokens, g.widget_locale, formdata=None)
    return render_widget(campaign, form, partners.source_url(request.referrer, our_origin()))


@bp.post("/w/<slug>")
@limits.limit_per_ip
@limits.limit_signing
def sign(slug: str) -> tuple[str, int]:
    campaign = campaign_or_404(slug)
    if not is_same_origin(request.headers, our_origin()):
        return render_message("widget/problem.html", 403, campaign=campaign, problem="origin")
    settings = widget_state().settings
    form = make_sign_form(
        campaign, widget_state().form_tokens, g.widget_locale, settings.blocked_email_domains
    )
    if not form.validate() or not form.spend_token(limits.spend_form_token):
        return render_widget(campaign, form, posted_source(), 400)
    signal = abuse.bot_signal(form.website.data, form.seconds_to_fill, settings.min_fill_seconds)
    if signal:
        # The ordinary answer, so the bot learns nothing; no row, no mail, no count.
        log.info("sign form on %s taken for a bot (%s)", campaign.slug, signal)
        return check_email_page(campaign)
    entry = signing.SignatureEntry(
        name=form.name.data,
        email=form.email.data,
        country=form.country.data,
        actions=list(form.actions.data or ()),
        opt_in=bool(form.opt_in.data),
        consent_version=signing.CONSENT_VERSION,
        language=g.widget_locale,
        partner=request.args.get("partner"),
        source_url=posted_source(),
        ip_hash=abuse.ip_hash(settings.secret_key, request.remote_addr, settings.ipv6_prefix),
    )
    outcome = signing.submit_signature(
        db.session,
        campaign,
        entry,
        now=utcnow(),
        notices=MailNotices(absolute_url, widget_state()),
        may_mail=limits.may_mail,
    )
    if outcome is signing.Submitted.CAMPAIGN_CLOSED:
        return render_widget(campaign, form, None, 409)
    return check_email_page(campaign)


def check_email_page(campaign: Campaign) -> tuple[str, int]:
    """The one answer to every accepted submission: new, repeated, or a bot's."""
    allow_framing(campaign)
    return render_message(
        "widget/check_email.html",
        campaign=campaign,
        query=widget_query(),
        theme=parse_theme(request.args.get("theme")),
    )


@bp.get("/v/<token>")
@limits.limit_links
def verify(token: str) -> tuple[str, int]:
    """Shows everything that will be stored; only the button (a POST) confirms, so mail
    scanners don't. Whoever did not sign is shown the way out: not confirming, or erasing."""
    state = widget_state()
    signature = signature_from_link(
        state.verify_tokens, token, expired="expired", only_counting=True
    )
    manage_token = state.manage_tokens.dumps(link_payload(signature.id, signature.link_secret))
    return render_message(
        "widget/verify.html",
        signature=signature,
        campaign=signature.campaign,
        token=token,
        manage_token=manage_token,
        pending_days=state.retention.pending_days,
    )


@bp.post("/v/<token>")
@limits.limit_links
@limits.limit_per_ip
def confirm(token: str) -> tuple[str, int]:
    signature = signature_from_link(
        widget_state().verify_tokens, token, expired="expired", only_counting=True
    )
    campaign = signature.campaign
    if not is_same_origin(request.headers, our_origin()):
        return render_message("widget/problem.html", 403, campaign=campaign, problem="origin")
    # The opt-in box is on the page only when the stored answer is yes; unticked, it is no.
    keep_opt_in = "opt_in_shown" not in request.form or request.form.get("opt_in") == "y"
    outcome = signing.confirm_signature(
        db.session, signature.id, now=utcnow(), keep_opt_in=keep_opt_in
    )
    status = 409 if outcome is signing.Confirmed.CAMPAIGN_CLOSED else 200
    return render_message(
        "widget/confirmed.html",
        status,
        campaign=campaign,
        outcome=outcome.value,
        tally=tally(db.session, campaign.id, campaign.actions),
    )


@bp.errorhandler(404)
def not_found(_error: Exception) -> tuple[str, int]:
    return render_message("widget/problem.html", 404, campaign=None, problem="not-found")


@bp.errorhandler(429)
def too_many(_error: Exception) -> Response:
    """Over a limit: the widget's own page, saying when to try again; what was typed is kept."""
    retry = limits.retry_after()
    minutes = max(1, -(-retry // 60))
    campaign = campaign_for_failure()
    if request.endpoint == "widget.sign" and campaign is not None:
        form = sign_form(campaign)
        body, status = render_widget(campaign, form, posted_source(), 429, rate_limited=minutes)
    else:
        body, status = render_message(
            "widget/problem.html", 429, campaign=campaign, problem="too-many", minutes=minutes
        )
    response = make_response(body, status)
    response.headers["Retry-After"] = str(retry)
    return response


def campaign_for_failure() -> Campaign | None:
    """The campaign of a request that failed or was refused, in the widget's language."""
    campaign = find_campaign(db.session, (request.view_args or {}).get("slug", ""), now=utcnow())
    if campaign is not None:
        g.widget_locale = choose_locale(campaign)
    return campaign


def sign_form(campaign: Campaign) -> object:
    """The sign form holding what the supporter sent, to show it again."""
    return make_sign_form(campaign, widget_state().form_tokens, g.widget_locale)


@bp.errorhandler(413)
def too_large(_error: Exception) -> tuple[str, int]:
    return render_message("widget/problem.html", 413, campaign=None, problem="too-large")
