"""``/setup/<token>``: the customer's IT admin sets up SSO and SCIM alone, from a one-time link.

The page shows seatgate's SAML details, takes the IdP's metadata (pasted or uploaded, read by
the same :func:`sso.providers.describe_from_metadata` as ``seatgate sso configure``), issues a
SCIM token (shown once), starts a test sign-in (a real AuthnRequest in test mode: validated
and reported, nobody admitted) and shows the latest connection logs. Every use is audited
under the link's id; "Finish setup" ends the link.

The link holder is an outside helper (DESIGN I10): the metadata becomes a configuration
*waiting for an owner's approval* (:mod:`sso.submissions`), which only the test sign-in uses,
and the SCIM token works once an owner approves it. The organization's current IdP keeps
signing people in meanwhile.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, make_response, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound as HttpNotFound

from app import connection_logs, database_of, idp_changes, scim_tokens, settings_of, setup_links
from app.connection_logs import LogFilter
from app.errors import InvalidInput, NotFound
from app.models import Organization, SetupLink
from app.pages.billing import check_csrf
from app.web import request_id
from sso import saml, submissions
from sso.providers import describe_from_metadata, find_provider

blueprint = Blueprint("setup", __name__, url_prefix="/setup", template_folder="templates")

MAX_METADATA_BYTES = 512 * 1024
RECENT_SIGN_INS = 5
GUIDES = {
    "okta": "Okta",
    "entra": "Microsoft Entra ID",
    "google": "Google Workspace",
    "onelogin": "OneLogin",
}


def _open(session: Session, token: str) -> tuple[SetupLink, Organization]:
    try:
        link = setup_links.open_link(session, token)
    except NotFound as exc:
        raise HttpNotFound(exc.message) from exc
    organization = session.get(Organization, link.organization_id)
    assert organization is not None  # the link cascades with its organization
    return link, organization


def _private(body: str, status: int = 200) -> Response:
    """The token is in the URL: keep it out of caches and of Referer headers."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _page(
    session: Session,
    token: str,
    link: SetupLink,
    organization: Organization,
    **context: Any,
) -> str:
    base_url = settings_of(current_app).base_url.rstrip("/")
    endpoints = saml.SpEndpoints(base_url=base_url, slug=organization.slug)
    provider = find_provider(session, organization)
    pending = idp_changes.pending_submission(session, organization.id)
    return render_template(
        "sso/setup.html",
        token=token,
        link=link,
        org_name=organization.name,
        endpoints=endpoints,
        provider=provider,
        pending=pending,
        scim_base=f"{base_url}/scim/v2",
        guides=GUIDES,
        sign_ins=connection_logs.sign_ins(
            session, organization.id, LogFilter(limit=RECENT_SIGN_INS)
        ),
        **context,
    )


@blueprint.get("/<token>")
def setup_page(token: str) -> Response:
    with database_of(current_app).unit_of_work() as session:
        link, organization = _open(session, token)
        setup_links.record_use(session, link, "open", request_id=request_id())
        return _private(_page(session, token, link, organization))


@blueprint.post("/<token>/idp")
def upload_metadata(token: str) -> Response:
    check_csrf()
    database = database_of(current_app)
    try:
        with database.unit_of_work() as session:
            link, organization = _open(session, token)
            settings = settings_of(current_app)
            submission = submissions.submit(
                session,
                link,
                organization,
                describe_from_metadata(_metadata_from_form()),
                endpoints=saml.SpEndpoints(base_url=settings.base_url, slug=organization.slug),
                secret_key=settings.secret_key,
                actor=setup_links.actor_for(link, request_id()),
            )
            setup_links.record_use(
                session,
                link,
                "idp_metadata",
                request_id=request_id(),
                details={"entity_id": submission.entity_id, "submission": submission.id},
            )
            notice = (
                f"Identity provider {submission.entity_id} submitted. It takes effect once an "
                f"owner of {organization.name} approves it; try it now with a test sign-in."
            )
    except InvalidInput as error:  # nothing was written: show the page again with why
        pasted = request.form.get("metadata_xml", "")
        with database.unit_of_work(write=False) as session:
            link, organization = _open(session, token)
            page = _page(session, token, link, organization, error=error.message, pasted=pasted)
            return _private(page, 400)
    with database.unit_of_work(write=False) as session:
        link, organization = _open(session, token)
        return _private(_page(session, token, link, organization, notice=notice))


def _metadata_from_form() -> bytes:
    upload = request.files.get("metadata_file")
    if upload is not None and upload.filename:
        data: bytes = upload.read(MAX_METADATA_BYTES + 1)
    else:
        data = request.form.get("metadata_xml", "").strip().encode()
    if not data:
        raise InvalidInput("Paste the metadata XML or choose the metadata file.")
    if len(data) > MAX_METADATA_BYTES:
        raise InvalidInput("The metadata is larger than 512 KiB; is it the right file?")
    return data


@blueprint.post("/<token>/scim-token")
def issue_scim_token(token: str) -> Response:
    check_csrf()
    database = database_of(current_app)
    try:
        with database.unit_of_work() as session:
            link, organization = _open(session, token)
            issued = scim_tokens.create_token(
                session,
                organization,
                label=f"setup link {link.id}",
                actor=setup_links.actor_for(link, request_id()),
                setup_link=link,
            )
            setup_links.record_use(
                session,
                link,
                "scim_token",
                request_id=request_id(),
                details={"token_id": issued.token.id},
            )
            return _private(_page(session, token, link, organization, scim_token=issued.secret))
    except InvalidInput as error:  # nothing was written
        with database.unit_of_work(write=False) as session:
            link, organization = _open(session, token)
            return _private(_page(session, token, link, organization, error=error.message), 400)


@blueprint.post("/<token>/test")
def test_sign_in(token: str) -> ResponseReturnValue:
    """Start a real SP-initiated sign-in whose answer is reported instead of admitting anyone:
    against the configuration waiting for approval if there is one, else the current one."""
    check_csrf()
    from sso.blueprint import start_sign_in

    with database_of(current_app).unit_of_work() as session:
        link, organization = _open(session, token)
        pending = idp_changes.pending_submission(session, organization.id)
        provider = (
            submissions.rehearsal_provider(session, organization, pending)
            if pending is not None
            else find_provider(session, organization)
        )
        if provider is None:
            error = "Save your identity provider's metadata first."
            return _private(_page(session, token, link, organization, error=error), 400)
        setup_links.record_use(session, link, "test_sign_in", request_id=request_id())
        # Never the setup URL: RelayState travels through the IdP, and a test answer is
        # reported on its own page anyway.
        next_url = settings_of(current_app).base_url
        return start_sign_in(
            session,
            organization,
            provider,
            next_url,
            test_mode=True,
            idp_submission_id=pending.id if pending is not None else None,
            relay_state=submissions.relay_state(pending) if pending is not None else None,
        )


@blueprint.post("/<token>/finish")
def finish(token: str) -> Response:
    check_csrf()
    with database_of(current_app).unit_of_work() as session:
        link, organization = _open(session, token)
        try:
            setup_links.finish(session, link, request_id=request_id())
        except NotFound as exc:  # finished by a concurrent request
            raise HttpNotFound(exc.message) from exc
        return _private(render_template("sso/setup_done.html", org_name=organization.name))


@blueprint.get("/<token>/guides/<provider_key>")
def guide(token: str, provider_key: str) -> Response:
    if provider_key not in GUIDES:
        raise HttpNotFound()
    with database_of(current_app).unit_of_work(write=False) as session:
        _link, organization = _open(session, token)
        base_url = settings_of(current_app).base_url.rstrip("/")
        return _private(
            render_template(
                f"sso/guides/{provider_key}.html",
                token=token,
                provider_name=GUIDES[provider_key],
                org_name=organization.name,
                endpoints=saml.SpEndpoints(base_url=base_url, slug=organization.slug),
                scim_base=f"{base_url}/scim/v2",
            )
        )
