"""The ``/sso/<slug>`` SAML endpoints and ``/.well-known/jwks.json``.

Views parse, call :mod:`sso.saml` and :mod:`sso.door`, and render; every refusal is turned
into the HTML refusal page in one place (the error handlers at the bottom), with an
``error_id`` that is logged beside the technical reason.

ACS reads and validates the response in a read unit, then writes in one unit of work: it
consumes the AuthnRequest id and records the assertion id, then runs the seat check and
issues the session in a savepoint (:meth:`app.db.Database.attempt`), so that a refused
sign-in undoes its own writes and the response still stays spent (usable once). A seat
refusal is recorded in that unit (I8) and rendered here.

The answer to a setup page's test of a *pending* IdP configuration (its RelayState names the
submission, :mod:`sso.submissions`) is checked against that configuration and takes its own
path, :func:`_rehearse`, which spends only that test's request and reports: no code path
from a pending configuration reaches admission or a session.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from app import database_of, sessions, settings_of, waiting_list
from app.alerts import triggers
from app.errors import ContractLapsed, MemberInactive, NoFreeSeat, SeatRefused
from app.ledger import Actor
from app.models import IdentityProvider, Organization, Source, utcnow
from app.pages.billing import check_csrf
from app.web import request_id, set_session_cookie
from sso import compiled_xml, door, replay, saml, submissions, trail
from sso.errors import (
    ContractEnded,
    MemberDeactivated,
    NoSeatAvailable,
    ReplayedAssertion,
    SignInRefused,
    SsoMisconfigured,
    SsoNotConfigured,
)
from sso.providers import configured, organization_and_provider
from sso.redirects import safe_next

log = logging.getLogger("seatgate.sso")

BILLING_PAGE = "/settings/billing?no_free_seat=1"

blueprint = Blueprint("sso", __name__, url_prefix="/sso", template_folder="templates")
wellknown = Blueprint("sso_wellknown", __name__)


@blueprint.record_once
def _register_wellknown(state: BlueprintSetupState) -> None:
    app = state.app
    compiled_xml.install()
    app.register_blueprint(wellknown)
    from sso.approvals import blueprint as approvals_blueprint
    from sso.cli import keys_group, sso_group
    from sso.setup import blueprint as setup_blueprint

    app.register_blueprint(setup_blueprint)
    app.register_blueprint(approvals_blueprint)

    app.cli.add_command(sso_group)
    app.cli.add_command(keys_group)


def _endpoints(slug: str) -> saml.SpEndpoints:
    return saml.SpEndpoints(base_url=settings_of(current_app).base_url, slug=slug)


def _configured(
    session: Session, slug: str, sign_in: trail.SignInTrail | None = None
) -> tuple[Organization, IdentityProvider]:
    """The organization and its IdP (one statement); a sign-in's trail learns the
    organization before a missing IdP refuses it, so the refusal is logged for its admins."""
    organization, provider = organization_and_provider(session, slug)
    if sign_in is not None:
        sign_in.organization_id = organization.id
    return organization, configured(organization, provider)


def _actor(label: str) -> Actor:
    return Actor(label=label[:320], source=Source.SSO, request_id=request_id())


@blueprint.get("/<slug>/metadata")
def metadata(slug: str) -> Response:
    settings = settings_of(current_app)
    with database_of(current_app).unit_of_work(write=False) as session:
        _, provider = _configured(session, slug)
        saml_settings = saml.saml_settings(provider, _endpoints(slug), settings.secret_key)
    response = make_response(saml.sp_metadata(saml_settings))
    response.mimetype = "application/samlmetadata+xml"
    return response


@blueprint.get("/<slug>/login")
def login(slug: str) -> ResponseReturnValue:
    """SP-initiated sign-in: remember the AuthnRequest id and where to go, then off to the IdP."""
    settings = settings_of(current_app)
    with database_of(current_app).unit_of_work() as session:
        organization, provider = _configured(session, slug)
        next_url = safe_next(
            request.args.get("next"),
            base_url=settings.base_url,
            allowed=list(provider.allowed_redirects or []),
        )
        return start_sign_in(session, organization, provider, next_url)


def start_sign_in(
    session: Session,
    organization: Organization,
    provider: IdentityProvider,
    next_url: str,
    *,
    test_mode: bool = False,
    idp_submission_id: int | None = None,
    relay_state: str | None = None,
) -> BaseResponse:
    """A new AuthnRequest, remembered (with ``test_mode`` for a setup page's test sign-in,
    and the pending configuration it tests, if any), and the redirect that carries it to the
    IdP with ``relay_state`` (by default, where to go afterwards)."""
    settings = settings_of(current_app)
    endpoints = _endpoints(organization.slug)
    start = saml.start_login(
        saml.saml_settings(provider, endpoints, settings.secret_key),
        saml.request_data(endpoints, "login", query=request.args),
        relay_state=next_url if relay_state is None else relay_state,
    )
    replay.remember_request(
        session,
        organization.id,
        start.request_id,
        next_url,
        lifetime=dt.timedelta(seconds=settings.sso.authn_request_lifetime_seconds),
        now=utcnow(),
        test_mode=test_mode,
        idp_submission_id=idp_submission_id,
    )
    response = redirect(start.redirect_url, code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/<slug>/acs")
def acs(slug: str) -> ResponseReturnValue:
    settings = settings_of(current_app)
    endpoints = _endpoints(slug)
    database = database_of(current_app)
    sign_in = trail.begin()
    rehearsal = submissions.rehearsed_submission(request.form.get("RelayState", ""))
    with database.unit_of_work(write=False) as session:
        if rehearsal is None:
            organization, provider = _configured(session, slug, sign_in)
        else:
            organization, _ = organization_and_provider(session, slug)
            sign_in.organization_id = organization.id
            provider = submissions.rehearsal_of(session, organization, rehearsal)
        identity = saml.read_response(
            provider,
            saml.saml_settings(provider, endpoints, settings.secret_key),
            saml.request_data(endpoints, "acs", form=request.form),
            request.form.get("SAMLResponse", ""),
        )
        sign_in.subject = identity.email or identity.name_id
        sign_in.passed(*trail.RESPONSE_CHECKS)
        jit = provider.jit_provisioning
        allow_unsolicited = provider.allow_idp_initiated
        allowed_redirects = list(provider.allowed_redirects or [])
    if rehearsal is not None:
        return _rehearse(sign_in, organization, identity, rehearsal, jit_provisioning=jit)
    try:
        answer, admission = _spend_and_admit(
            sign_in,
            organization,
            identity,
            jit_provisioning=jit,
            allow_unsolicited=allow_unsolicited,
            allowed_redirects=allowed_redirects,
        )
    except SeatRefused as refusal:  # recorded for the owners with the spent answer (I8)
        return _seat_refused(refusal, sign_in, organization, identity)
    if admission is None:
        return _test_report(organization, identity, jit_provisioning=jit)
    trail.stored(admission.sign_in)
    response = redirect(answer.next_url, code=303)
    set_session_cookie(response, settings, admission.token)
    return response


@dataclass(frozen=True)
class _Admission:
    """A person let in: the sign-in's trail as stored, and their session token."""

    sign_in: trail.SignInTrail
    token: sessions.IssuedToken


def _spend_and_admit(
    sign_in: trail.SignInTrail,
    organization: Organization,
    identity: saml.SamlIdentity,
    *,
    jit_provisioning: bool,
    allow_unsolicited: bool,
    allowed_redirects: list[str],
) -> tuple[replay.Answer, _Admission | None]:
    """One write unit: spend the answer, then admit the person in a savepoint
    (:meth:`app.db.Database.attempt`). A refused or failed admission undoes only its own
    writes and is raised once the spent answer is committed: a response is usable once, even
    when its sign-in is refused. No admission for a test sign-in. ``organization`` is the one
    read before (the door and the token use its id and slug)."""
    settings = settings_of(current_app)
    database = database_of(current_app)
    failure: Exception | None = None
    try:
        with database.unit_of_work() as session:
            answer = _spend(
                session, organization.id, identity, allow_unsolicited, allowed_redirects
            )
            sign_in.test = answer.test_mode
            sign_in.passed("request", "replay")
            if answer.test_mode:
                return answer, None
            try:
                with database.attempt(session):
                    member = door.admit(
                        session,
                        organization,
                        identity,
                        jit_provisioning=jit_provisioning,
                        actor=_actor(identity.email or identity.name_id),
                    )
                    token = door.issue_session(session, settings, organization, member, identity)
                    admitted = sign_in.admitted()
                    trail.store_in(session, admitted, request_id())  # one commit for all
            except Exception as exc:  # raised below, once the spent answer is committed
                failure = exc
    except Exception as ending:  # the unit could not commit
        if failure is None or isinstance(failure, SeatRefused):
            raise
        raise failure from ending  # why the admission failed (a lost connection: 503)
    if failure is not None:
        raise failure
    return answer, _Admission(admitted, token)


def _rehearse(
    sign_in: trail.SignInTrail,
    organization: Organization,
    identity: saml.SamlIdentity,
    submission_id: int,
    *,
    jit_provisioning: bool,
) -> str:
    """An answer checked against a pending configuration: spend the test request made for
    it (nothing else) and report the door's checks. Never admits, never issues a session."""
    with database_of(current_app).unit_of_work() as session:
        _spend(session, organization.id, identity, False, [], rehearsal_of=submission_id)
    sign_in.test = True
    sign_in.passed("request", "replay")
    return _test_report(organization, identity, jit_provisioning=jit_provisioning)


def _seat_refused(
    refusal: SeatRefused,
    sign_in: trail.SignInTrail,
    organization: Organization,
    identity: saml.SamlIdentity,
) -> ResponseReturnValue:
    """Keep the person for when seats are added; an Owner still reaches billing, or nobody
    could ever add the seats that would let them in. Anyone else gets the refusal page."""
    settings = settings_of(current_app)
    database = database_of(current_app)
    if isinstance(refusal, NoFreeSeat):
        with database.unit_of_work() as session:
            waiting_list.wait_for_sign_in(
                session,
                organization.id,
                email=identity.email or "",
                name_id=identity.name_id,
                display_name=identity.display_name,
                attributes=identity.attributes,
            )
    with database.unit_of_work() as session:
        owner_session = door.billing_only_session(session, settings, organization, identity)
    if owner_session is None:
        raise refusal
    sign_in.refused("seat", refusal.message, error_id="")
    sign_in.outcome = "billing_only"
    response = redirect(BILLING_PAGE, code=303)
    set_session_cookie(response, settings, owner_session)
    return response


def _spend(
    session: Session,
    organization_id: int,
    identity: saml.SamlIdentity,
    allow_unsolicited: bool,
    allowed_redirects: list[str],
    *,
    rehearsal_of: int | None = None,
) -> replay.Answer:
    """Consume the request this answers and record the assertion id (a replay is refused)."""
    settings = settings_of(current_app)
    try:
        return replay.answer_once(
            session,
            organization_id,
            identity,
            allow_unsolicited=allow_unsolicited,
            unsolicited_next=lambda: safe_next(
                request.form.get("RelayState"),
                base_url=settings.base_url,
                allowed=allowed_redirects,
            ),
            now=utcnow(),
            rehearsal_of=rehearsal_of,
        )
    except IntegrityError as exc:  # the assertion id is already recorded
        raise ReplayedAssertion(f"assertion {identity.assertion_id!r} already used") from exc


def _test_report(
    organization: Organization, identity: saml.SamlIdentity, *, jit_provisioning: bool
) -> str:
    """A test sign-in from a setup page: run the door's checks, admit nobody, show each step."""
    sign_in = trail.current()
    assert sign_in is not None
    with database_of(current_app).unit_of_work(write=False) as session:
        sign_in.steps.extend(
            door.rehearse(session, organization, identity, jit_provisioning=jit_provisioning)
        )
    sign_in.outcome = "test_passed" if all(s.passed for s in sign_in.steps) else "test_refused"
    return render_template(
        "sso/test_report.html",
        organization=organization.slug,
        steps=sign_in.steps,
        outcome=sign_in.outcome,
        identity=identity,
    )


@blueprint.after_request
def _write_sign_in_log(response: Response) -> Response:
    trail.write(request_id())
    return response


@blueprint.get("/session")
def session_status() -> tuple[Response, int]:
    """Token introspection for the product: is this session still good right now?"""
    settings = settings_of(current_app)
    token = _presented_token()
    if token is None:
        return jsonify(active=False, error="no token"), 401
    with database_of(current_app).unit_of_work(write=False) as session:
        try:
            claims = sessions.verify(session, settings, token)
        except sessions.InvalidToken as exc:
            return jsonify(active=False, error=str(exc)), 401
    return jsonify(active=True, claims=claims), 200


@blueprint.get("/<slug>/logout")
def confirm_logout(slug: str) -> str:
    """A link to sign out shows the sign-out button: only a POST with the page's CSRF token
    ends a session, so another site cannot sign anyone out."""
    with database_of(current_app).unit_of_work(write=False) as session:
        organization_and_provider(session, slug)  # an unknown organization: not found
    return render_template("sso/sign_out.html", slug=slug)


@blueprint.post("/<slug>/logout")
def logout(slug: str) -> ResponseReturnValue:
    """End the seatgate session; then single logout at the IdP when it has an SLO URL.

    A browser proves the request comes from seatgate's own form (its CSRF token); a bearer
    token in the ``Authorization`` header (the product's server) needs no such proof, since
    no browser sends that header to another site on its own.
    """
    settings = settings_of(current_app)
    if not request.headers.get("Authorization"):
        check_csrf()
    token = _presented_token()
    with database_of(current_app).unit_of_work() as session:
        _, provider = organization_and_provider(session, slug)
        claims = None
        if token is not None:
            try:
                claims = sessions.verify(session, settings, token, allow_billing_only=True)
            except sessions.InvalidToken:
                claims = None
        if claims is not None and claims["org"] == slug:
            record = sessions.end(session, claims["sid"], sessions.EndReason.SIGNED_OUT)
        else:
            record = None
        target = None
        if provider is not None and provider.slo_url and record is not None:
            endpoints = _endpoints(slug)
            target = saml.start_logout(
                saml.saml_settings(provider, endpoints, settings.secret_key),
                saml.request_data(endpoints, "logout"),
                name_id=record.name_id,
                session_index=record.session_index,
                return_to=f"{endpoints.root}/signed-out",
            )
    response = (
        redirect(target, code=303)
        if target
        else make_response(render_template("sso/signed_out.html", slug=slug))
    )
    response.delete_cookie(settings.sso.cookie_name, path="/", secure=True, httponly=True)
    return response


@blueprint.get("/<slug>/sls")
def sls(slug: str) -> ResponseReturnValue:
    """Single logout from the IdP: a LogoutRequest ends the subject's sessions and is
    answered; a LogoutResponse confirms the logout started by ``/logout``."""
    settings = settings_of(current_app)
    endpoints = _endpoints(slug)
    with database_of(current_app).unit_of_work() as session:
        organization, provider = _configured(session, slug)
        if not provider.slo_url:
            raise SsoNotConfigured(f"organization {slug!r} has no IdP single logout URL")
        outcome = saml.process_logout(
            saml.saml_settings(provider, endpoints, settings.secret_key),
            saml.request_data(
                endpoints,
                "sls",
                query=request.args,
                query_string=request.query_string.decode(),
            ),
        )
        if outcome.name_id is not None:
            sessions.end_for_subject(
                session, organization.id, outcome.name_id, outcome.session_indexes
            )
    if outcome.redirect_url:
        return redirect(outcome.redirect_url, code=302)
    response = make_response(render_template("sso/signed_out.html", slug=slug))
    response.delete_cookie(settings.sso.cookie_name, path="/", secure=True, httponly=True)
    return response


@blueprint.get("/<slug>/signed-out")
def signed_out(slug: str) -> str:
    return render_template("sso/signed_out.html", slug=slug)


def _presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip() or None
    return request.cookies.get(settings_of(current_app).sso.cookie_name) or None


@wellknown.get("/.well-known/jwks.json")
def jwks() -> Response:
    settings = settings_of(current_app)
    with database_of(current_app).unit_of_work(write=False) as session:
        document = sessions.published_keys(session, settings, now=utcnow())
    if not document["keys"]:  # before the first sign-in: create the key now
        with database_of(current_app).unit_of_work() as session:
            sessions.current_key(session, settings.secret_key, now=utcnow())
            document = sessions.published_keys(session, settings, now=utcnow())
    response = jsonify(document)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blueprint.errorhandler(SignInRefused)
def _refused(error: SignInRefused) -> tuple[str, int]:
    return render_refusal(error)


@blueprint.errorhandler(SsoMisconfigured)
@blueprint.app_errorhandler(SsoMisconfigured)  # a setup page's test sign-in, too
def _misconfigured(error: SsoMisconfigured) -> tuple[str, int]:
    """Nobody can sign in until the saved settings are fixed: the owners are told (once a
    day, however many people try), then the person at the door."""
    with database_of(current_app).unit_of_work() as session:
        triggers.sso_misconfigured(
            session,
            error.organization_id,
            reason=error.detail,
            now=utcnow(),
            request_id=request_id(),
        )
    return render_refusal(error)


@blueprint.errorhandler(SeatRefused)
def _no_seat(error: SeatRefused) -> tuple[str, int]:
    """The ledger refused (and the unit of work recorded it for the owners, I8)."""
    detail = f"{error.code}: {error.message}"
    if isinstance(error, ContractLapsed):
        return render_refusal(ContractEnded(detail))
    return render_refusal(
        NoSeatAvailable(detail), seats={"purchased": error.purchased, "assigned": error.assigned}
    )


@blueprint.errorhandler(MemberInactive)
def _inactive(error: MemberInactive) -> tuple[str, int]:
    return render_refusal(MemberDeactivated(error.message))


def render_refusal(
    refusal: SignInRefused, *, seats: dict[str, int] | None = None
) -> tuple[str, int]:
    """The one page every refused sign-in gets: why, what happens next, and an error id."""
    error_id = uuid.uuid4().hex[:12]
    sign_in = trail.current()
    if sign_in is not None:
        sign_in.refused(refusal.step, refusal.detail, error_id)
    log.warning(
        "sign-in refused",
        extra={
            "error_id": error_id,
            "refusal": type(refusal).__name__,
            "detail": refusal.detail,
            "path": request.path,
            "request_id": request_id(),
        },
    )
    page = render_template(
        "sso/refused.html",
        title=refusal.title,
        explanation=refusal.explanation,
        owners_notified=refusal.owners_notified,
        seats=seats,
        error_id=error_id,
    )
    return page, refusal.status
