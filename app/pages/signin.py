"""``/signin``: where a browser without a session is sent; it asks for the organization and
hands over to that organization's SAML sign-in, coming back to the page it came from.

Owners and the Primary Owner may instead ask for a one-time sign-in link by e-mail
(:mod:`app.sign_in_links`), so that billing, and approving an identity provider, never need
SSO to work already. The answer to that request is the same page, with the same work behind
it, whether or not the address is an owner's; requests are limited per address and per
client (``[sign_in_links]`` settings). The link opens a confirmation page whose button
(a POST) signs in: a mail scanner fetching the link spends nothing.
"""

from __future__ import annotations

import re
from typing import cast
from urllib.parse import urlencode

from flask import Flask, current_app, make_response, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from sqlalchemy import select
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from app import database_of, sessions, settings_of, sign_in_links
from app.addresses import normalize_email
from app.errors import InvalidInput
from app.models import Organization, utcnow
from app.organizations import SLUG_PATTERN
from app.pages import blueprint
from app.pages.access import redirect_response
from app.pages.billing import check_csrf
from app.rate_limits import RateLimiter
from app.web import request_id, set_session_cookie

DEFAULT_NEXT = "/settings/billing"
_LOCAL_PATH = re.compile(r"^/(?![/\\])[\x21-\x7e]*$")
LIMITERS_EXTENSION = "seatgate.sign_in_link_limiters"
HOUR = 3600


def local_next(target: str | None) -> str:
    """Only a path on this site: never another host (no open redirect)."""
    return target if target and _LOCAL_PATH.match(target) else DEFAULT_NEXT


@blueprint.record_once
def _install_limiters(state: BlueprintSetupState) -> None:
    settings = settings_of(cast(Flask, state.app))
    limits = settings.sign_in_links
    state.app.extensions[LIMITERS_EXTENSION] = (
        RateLimiter(limits.per_address_per_hour, settings.redis_url, window_seconds=HOUR),
        RateLimiter(limits.per_client_per_hour, settings.redis_url, window_seconds=HOUR),
    )


def _signin_page(
    next_path: str,
    *,
    error: str | None = None,
    link_error: str | None = None,
    organization_value: str = "",
    email_value: str = "",
) -> str:
    return render_template(
        "signin.html",
        next_path=next_path,
        error=error,
        link_error=link_error,
        organization=None,
        organization_value=organization_value,
        email_value=email_value,
        email_links=bool(settings_of(current_app).smtp.url),
    )


@blueprint.get("/signin")
def signin() -> Response | str:
    next_path = local_next(request.args.get("next"))
    slug = (request.args.get("organization") or "").strip().lower()
    if slug and SLUG_PATTERN.match(slug):
        return redirect_response(
            url_for("sso.login", slug=slug) + "?" + urlencode({"next": next_path})
        )
    error = "Enter your organization's identifier, e.g. acme." if slug else None
    return _signin_page(next_path, error=error)


@blueprint.post("/signin/email-link")
def request_email_link() -> tuple[str, int] | str:
    """Ask for an owner's sign-in link. Whoever asks gets the same answer."""
    check_csrf()
    slug = request.form.get("organization", "").strip().lower()
    address = request.form.get("email", "").strip()
    kept = {"organization_value": slug, "email_value": address}
    try:
        if not SLUG_PATTERN.match(slug):
            raise InvalidInput("Enter your organization's identifier, e.g. acme.")
        _, address_key = normalize_email(address)
    except InvalidInput as error:
        return _signin_page(DEFAULT_NEXT, link_error=_plain(error.message), **kept), 400
    wait = _over_limit(address_key)
    if wait is not None:
        message = (
            "Too many sign-in links were asked for this address or from your network. "
            f"Try again in {-(-wait // 60)} minutes."
        )
        return _signin_page(DEFAULT_NEXT, link_error=message, **kept), 429
    with database_of(current_app).unit_of_work() as session:
        organization = session.scalar(select(Organization).where(Organization.slug == slug))
        if organization is not None:
            sign_in_links.request_link(session, organization, address_key, now=utcnow())
    minutes = int(sign_in_links.LIFETIME.total_seconds() // 60)
    return render_template("signin_sent.html", address=address, minutes=minutes, organization=None)


def _plain(message: str) -> str:
    """The e-mail library's explanation without the address echoed back in quotes."""
    return "Enter a valid e-mail address." if "not a valid e-mail address" in message else message


def _over_limit(address_key: str) -> int | None:
    """Seconds to wait when this address or this client asked too often, else ``None``.
    Both budgets are counted on every request, so neither can be spent through the other."""
    per_address, per_client = current_app.extensions[LIMITERS_EXTENSION]
    waits = [
        per_address.check(f"sign-in link to {address_key}"),
        per_client.check(f"sign-in link from {request.remote_addr or 'unknown'}"),
    ]
    return max((w for w in waits if w is not None), default=None)


def _private(body: str, status: int = 200) -> Response:
    """The token is in the URL: keep it out of caches and of Referer headers."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@blueprint.get("/signin/link/<token>")
def confirm_email_link(token: str) -> Response:
    """The page an e-mailed link opens: it says where it signs in and asks for a click."""
    with database_of(current_app).unit_of_work(write=False) as session:
        organization = sign_in_links.peek(session, token, now=utcnow())
        if organization is None:
            raise NotFound()
        page = render_template(
            "signin_confirm.html", token=token, org_name=organization.name, organization=None
        )
    return _private(page)


@blueprint.post("/signin/link")
def redeem_email_link() -> Response:
    """Spend the link (once) and open a billing-only session: no seat, no product token."""
    check_csrf()
    settings = settings_of(current_app)
    with database_of(current_app).unit_of_work() as session:
        redeemed = sign_in_links.redeem(
            session, request.form.get("token", ""), now=utcnow(), request_id=request_id()
        )
        issued = (
            sessions.issue(
                session,
                settings,
                redeemed.organization,
                redeemed.member,
                name_id=redeemed.member.email,
                session_index=None,
                billing_only=True,
            )
            if redeemed is not None
            else None
        )
    if issued is None:
        raise NotFound()
    response = redirect_response(DEFAULT_NEXT)
    set_session_cookie(response, settings, issued)
    return response
