"""The supporter's pages: the widget drawn in the iframe, the sign form, the confirm link."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    make_response,
    render_template,
    request,
    send_from_directory,
    url_for,
)

from .. import LOCALES, abuse, limits, partners, paths, receipts, sharing, signing, widget_state
from ..campaigns import find_campaign
from ..clock import utcnow
from ..counter import tally
from ..embed_views import DEFAULT_VIEW, parse_view
from ..extensions import db
from ..forms import make_sign_form
from ..models import Campaign, Partner
from ..notices import MailNotices
from ..offline import offline_in_widget
from ..page_cache import page_cache
from ..public_facts import CampaignFacts, Counts, public_facts
from ..security import is_same_origin, new_form_token
from ..take_action import TakeAction, take_action
from ..themes import parse_theme
from ..tokens import link_payload
from . import absolute_url, journey, our_origin, protect, render_message, signature_from_link

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


def public_campaign(slug: str) -> CampaignFacts:
    """The campaign of a supporter's page as this process keeps it (``widget.public_facts``),
    in the widget's language, framed as it allows; 404 if there is none or not yet."""
    facts = public_facts(current_app).campaign(db.session, slug, now=utcnow())
    if facts is None:
        abort(404)
    g.widget_locale = choose_locale(facts.campaign)
    g.frame_ancestors = facts.frame_ancestors
    return facts


def allow_framing(campaign: Campaign) -> None:
    """``Content-Security-Policy: frame-ancestors`` (X-Frame-Options cannot list origins);
    already set where the campaign came from ``public_campaign``."""
    if "frame_ancestors" in g:
        return
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
    """The widget page with a form that was sent (its values, its errors): never reused."""
    allow_framing(campaign)
    inputs = widget_inputs(
        campaign,
        Counts(
            tally(db.session, campaign.id, campaign.actions),
            offline_in_widget(db.session, campaign),
        ),
        partners.active_partner(db.session, request.args.get("partner")),
        rate_limited=rate_limited,
        failure=failure,
    )
    slots = widget_slots(campaign, source)
    return render_template(
        "widget/page.html",
        form=form,
        take_action=take_action_of(campaign, form),
        **inputs,
        **slots,
    ), status


def widget_inputs(
    campaign: Campaign,
    counts: Counts,
    consent_partner: Partner | None,
    rate_limited: int | None = None,
    failure: str | None = None,
) -> dict[str, object]:
    """Everything the widget page shows but its form and slots: the key of the rendered pages
    (``widget.page_cache``), so a value added here is part of it."""
    query = page_query(campaign, consent_partner)
    return {
        "locale": g.widget_locale,
        "campaign": campaign,
        "tally": counts.tally,
        "offline": counts.offline,
        "is_open": campaign.is_open(utcnow()),
        "theme": parse_theme(request.args.get("theme")),
        "rate_limited": rate_limited,
        "failure": failure,
        "consent_partner": consent_partner,
        "view": requested_view(),
        "query": query,
        # the counter's link opens the action on its own page: no frame to talk to there
        "action_query": {key: value for key, value in query.items() if key not in ("host", "view")},
        "letter": query.get("letter", ""),
    }


def widget_slots(campaign: Campaign, source: str | None) -> dict[str, str | None]:
    """The widget page's values of this request alone, put into a reused page by substitution
    (escaped as the template would): the embedding page and the form's action with the query."""
    return {
        "source": source,
        "sign_action": url_for("widget.sign", slug=campaign.slug, **widget_query()),
    }


def take_action_of(campaign: Campaign, form: object) -> TakeAction:
    """The ask's per-target letters in the language chosen with ``?letter=`` (the letter-language
    form, which works without the page's script) or sent with the sign form, as the supporter
    edited it there; signed with the name typed in the form."""
    name = getattr(getattr(form, "name", None), "data", None) or ""
    wanted, edited = request.args.get("letter", ""), None
    if request.endpoint == "widget.sign":
        wanted, edited = request.form.get("letter", wanted), request.form.get("letter_text")
    return take_action(campaign, g.widget_locale, wanted[:20], str(name)[:120], edited)


#: the query parameters the widget page understands, carried from the page to its form
WIDGET_PARAMS = ("partner", "lang", "theme", "host", "letter")


def widget_query() -> dict[str, str]:
    query = {key: request.args[key][:200] for key in WIDGET_PARAMS if request.args.get(key)}
    if requested_view() != DEFAULT_VIEW:
        query["view"] = requested_view()
    # the source code goes on only as ``widget.sharing`` accepts it; a hostile one is dropped
    ref = sharing.normalise_ref(request.args.get("ref"))
    return query | ({"ref": ref} if ref else {})


def page_query(campaign: Campaign, consent_partner: Partner | None) -> dict[str, str]:
    """``widget_query`` as the app understood it, for the links and forms of a reused page: a
    partner only if registered and active, a language (and a letter's) only if offered, a theme
    as parsed, the frame's host only as an origin. Junk values drop out, so they never make pages
    of their own (what is left is few per article: the partner's origin, a share's source code)."""
    query = widget_query()
    if consent_partner is None:
        query.pop("partner", None)
    if query.get("lang") != str(g.widget_locale):
        query.pop("lang", None)
    if query.get("letter") not in campaign.languages:
        query.pop("letter", None)
    theme = parse_theme(query.pop("theme", None))
    if theme != parse_theme(None):
        query["theme"] = " ".join(filter(None, (theme.mode, theme.accent)))
    if host := partners.source_url(query.pop("host", None), ""):
        scheme, netloc = urlsplit(host)[:2]
        query["host"] = f"{scheme}://{netloc}"
    return query


def requested_view() -> str:
    """``?view=`` (from ``data-view``), validated: unknown values are the full widget."""
    return parse_view(request.args.get("view"))


def posted_source() -> str | None:
    return partners.source_url(request.form.get("source"), our_origin())


@bp.get("/embed.js")
def embed_js() -> Response:
    response = send_from_directory(paths.STATIC, "embed.js", max_age=300)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/w/<slug>")
def page(slug: str) -> tuple[str, int]:
    """The page every reader of an article loads: rendered once per distinct input in each
    process (``widget.page_cache``); its token, style nonce, source and action are slots."""
    facts = public_campaign(slug)
    campaign = facts.campaign
    inputs = widget_inputs(
        campaign,
        public_facts(current_app).counts(db.session, campaign),
        facts.partners.get(request.args.get("partner") or ""),
    )
    slots = widget_slots(campaign, embedding_page())
    slots["form_token"] = new_form_token(widget_state().form_tokens, campaign.slug)
    slots["style_nonce"] = g.style_nonce
    return page_cache(current_app).page("widget/page.html", inputs, slots, render_fresh_page), 200


def render_fresh_page(context: dict[str, object]) -> str:
    """The widget page with an empty form whose token is the one in ``context`` (a slot)."""
    campaign = context["campaign"]
    assert isinstance(campaign, Campaign)
    form = make_sign_form(campaign, widget_state().form_tokens, g.widget_locale, formdata=None)
    form.csrf_token.current_token = context.pop("form_token")
    letters = take_action(campaign, g.widget_locale, str(context["letter"]), "", None)
    with style_nonce_slot(context):
        return render_template("widget/page.html", form=form, take_action=letters, **context)


@contextmanager
def style_nonce_slot(context: dict[str, object]) -> Iterator[None]:
    """While a reused page is rendered, its style nonce is the slot's: base.html reads the
    nonce from g, where the CSP header takes it from too."""
    request_nonce, g.style_nonce = g.style_nonce, context.pop("style_nonce")
    try:
        yield
    finally:
        g.style_nonce = request_nonce


def embedding_page() -> str | None:
    """The partner's page the widget is on: its origin and path as embed.js passes them
    (``?page=``; a browser's referrer is only the origin), if they agree with the referrer. A
    page that sends no referrer has chosen to say nothing of itself: its path is not kept."""
    referrer = partners.source_url(request.referrer, our_origin())
    page = partners.source_url(request.args.get("page"), our_origin())
    if page and referrer and urlsplit(page)[:2] == urlsplit(referrer)[:2]:
        return page
    return referrer


@bp.post("/w/<slug>")
@limits.limited(limits.PER_IP, limits.SIGNING)
def sign(slug: str) -> tuple[str, int]:
    campaign = public_campaign(slug).campaign
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
        return check_email_page(campaign, form, receipts.new_receipt())
    entry = signing.SignatureEntry(
        name=form.name.data,
        email=form.email.data,
        country=form.country.data,
        actions=list(form.actions.data or ()),
        opt_in=bool(form.opt_in.data),
        partner_opt_in=bool(form.partner_opt_in.data),
        consent_version=signing.CONSENT_VERSION,
        language=g.widget_locale,
        partner=request.args.get("partner"),
        source_url=posted_source(),
        ip_hash=abuse.ip_hash(settings.secret_key, request.remote_addr, settings.ipv6_prefix),
        ref=sharing.normalise_ref(request.args.get("ref")),
    )
    desk = journey.ReceiptDesk(utcnow(), campaign.id, request.form.get("receipt"))
    outcome = signing.submit_signature(
        db.session,
        campaign,
        entry,
        now=utcnow(),
        notices=MailNotices(absolute_url, widget_state()),
        may_mail=limits.may_mail,
        sealer=widget_state().sealer,
        addresses=widget_state().addresses,
        on_stored=desk,
    )
    if outcome is signing.Submitted.CAMPAIGN_CLOSED:
        return render_widget(campaign, form, None, 409)
    return check_email_page(campaign, form, desk.receipt)


def check_email_page(campaign: Campaign, form: object, receipt: str) -> tuple[str, int]:
    """The one answer to every accepted submission: new, repeated, or a bot's; "send the link
    again" is a submission too, so it answers alike. Rendered once per distinct input in each
    process (``widget.page_cache``), like the widget page."""
    allow_framing(campaign)
    inputs, slots = journey.check_email_parts(
        campaign, form, receipt, posted_source(), widget_query()
    )
    inputs["theme"] = parse_theme(request.args.get("theme"))
    inputs["again"] = request.form.get("again") == "y"
    slots["style_nonce"] = g.style_nonce
    cache = page_cache(current_app)
    return cache.page("widget/check_email.html", inputs, slots, render_check_email), 200


def render_check_email(context: dict[str, object]) -> str:
    share = journey.share_of(context)
    with style_nonce_slot(context):
        return render_template("widget/check_email.html", share=share, **context)


@bp.get("/v/<token>")
@limits.limited(limits.LINKS)
def verify(token: str) -> tuple[str, int]:
    """Shows everything that will be stored; only the button (a POST) confirms, so mail
    scanners don't. Whoever did not sign is shown the way out: not confirming, or erasing."""
    state = widget_state()
    signature = signature_from_link(
        state.verify_tokens, token, expired="expired", only_counting=True
    )
    manage_token = state.manage_tokens.dumps(link_payload(signature.id, signature.link_secret))
    # a HEAD (link checkers) opens nothing
    if signature.link_opened_at is None and request.method == "GET":
        signing.record_link_opened(db.session, signature.id, now=utcnow())
    return render_message(
        "widget/verify.html",
        signature=signature,
        campaign=signature.campaign,
        token=token,
        manage_token=manage_token,
        pending_days=state.retention.pending_days,
        is_open=signature.campaign.is_open(utcnow()),
    )


@bp.post("/v/<token>")
@limits.limited(limits.LINKS, limits.PER_IP)
def confirm(token: str) -> tuple[str, int]:
    signature = signature_from_link(
        widget_state().verify_tokens, token, expired="expired", only_counting=True
    )
    campaign = signature.campaign
    if not is_same_origin(request.headers, our_origin()):
        return render_message("widget/problem.html", 403, campaign=campaign, problem="origin")
    # The opt-in boxes are on the page only when the stored answer is yes; unticked, it is no.
    keep_opt_in = "opt_in_shown" not in request.form or request.form.get("opt_in") == "y"
    keep_partner_opt_in = (
        "partner_opt_in_shown" not in request.form or request.form.get("partner_opt_in") == "y"
    )
    outcome = signing.confirm_signature(
        db.session,
        signature.id,
        now=utcnow(),
        keep_opt_in=keep_opt_in,
        keep_partner_opt_in=keep_partner_opt_in,
    )
    status = 409 if outcome is signing.Confirmed.CAMPAIGN_CLOSED else 200
    return render_message(
        "widget/confirmed.html",
        status,
        campaign=campaign,
        outcome=outcome.value,
        tally=tally(db.session, campaign.id, campaign.actions),
        offline=offline_in_widget(db.session, campaign),
        **journey.share_context(campaign, signature.source_url),
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
