"""Every way a sign-in can be refused, one exception type per failure.

Each class carries, as class data, the HTTP status and the sentence shown to the person at
the door; the views render them in one place (:func:`sso.blueprint.render_refusal`) with an
``error_id`` that is also logged beside the technical details, which are never shown.
"""

from __future__ import annotations


class SignInRefused(Exception):
    """Base of every refused SSO request. ``detail`` is for the log, never for the page."""

    status = 403
    title = "Sign-in refused"
    explanation = "Your sign-in could not be completed."
    owners_notified = False
    step = "sign-in"  # the validation step that failed, as the connection log names it

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.explanation)
        self.detail = detail or self.explanation


class SsoNotConfigured(SignInRefused):
    step = "configuration"
    status = 404
    title = "Single sign-on is not set up"
    explanation = "This organization has not configured single sign-on with seatgate."


class SsoMisconfigured(SignInRefused):
    """The organization's saved IdP settings are ones python3-saml refuses (saved before
    seatgate checked them, or unreadable since a ``secret_key`` change): nobody can sign in
    until they are fixed. The owners are alerted (:func:`app.alerts.triggers.sso_misconfigured`)."""

    step = "configuration"
    title = "Single sign-on is misconfigured"
    explanation = (
        "Single sign-on is misconfigured for this organization, so nobody can sign in with it "
        "right now; your owners have been told. Try again once they have fixed it."
    )
    owners_notified = True

    def __init__(self, detail: str, *, organization_id: int) -> None:
        super().__init__(detail)
        self.organization_id = organization_id


class MalformedMessage(SignInRefused):
    """The SAML message is not a well-formed, safe XML document (XXE, DTD, entities...)."""

    step = "message"

    status = 400
    title = "Sign-in message rejected"
    explanation = "The sign-in message from your identity provider could not be read safely."


class InvalidResponse(SignInRefused):
    """python3-saml refused the response: signature, audience, times, issuer, destination.

    ``step`` says which check failed ("signature", "audience", "destination", "issuer" or
    "validity"), so the connection log can tell the IT admin what to fix.
    """

    step = "validity"

    def __init__(self, detail: str = "", *, step: str | None = None) -> None:
        super().__init__(detail)
        if step is not None:
            self.step = step

    title = "Sign-in could not be verified"
    explanation = (
        "The sign-in message from your identity provider failed verification "
        "(signature, audience, destination or validity period)."
    )


class UnknownRequest(SignInRefused):
    """``InResponseTo`` names no AuthnRequest of this organization, or one already answered."""

    step = "request"

    title = "Sign-in could not be verified"
    explanation = (
        "This sign-in answer does not match a sign-in started here, or was already used. "
        "Start again from your application."
    )


class UnsolicitedResponse(SignInRefused):
    step = "request"
    title = "Sign-in must start here"
    explanation = (
        "Your organization only accepts sign-ins started from seatgate, not from the "
        "identity provider's portal. Start again from your application."
    )


class ReplayedAssertion(SignInRefused):
    step = "replay"
    title = "Sign-in already used"
    explanation = "This sign-in message was already used once. Start again from your application."


class MissingEmail(SignInRefused):
    step = "email"
    status = 400
    title = "E-mail address missing"
    explanation = (
        "Your identity provider did not send a usable e-mail address. Ask your administrator "
        "to send the e-mail attribute (or an e-mail NameID) to seatgate."
    )


class ForbiddenRedirect(SignInRefused):
    step = "redirect"
    status = 400
    title = "Redirect not allowed"
    explanation = "The page you asked to return to is not allowed for this organization."


class MemberDeactivated(SignInRefused):
    step = "member"
    title = "Account deactivated"
    explanation = "Your account in this organization is deactivated. Contact your administrator."


class NotProvisioned(SignInRefused):
    step = "member"
    title = "No access yet"
    explanation = (
        "Your account has no seat in this organization and automatic provisioning is off. "
        "Ask your administrator to give you access."
    )


class NoSeatAvailable(SignInRefused):
    """The ledger refused the seat (R10); the refusal was recorded for the owners (I8)."""

    step = "seat"

    title = "No seat available"
    explanation = (
        "You cannot sign in yet because every seat your organization has purchased is in use. "
        "Your organization's owners have been notified; you can sign in as soon as a seat is "
        "free or more seats are added."
    )
    owners_notified = True


class ContractEnded(SignInRefused):
    """The contract ended without auto-renewal: no seat can be given (recorded, like R10)."""

    step = "seat"

    title = "Subscription ended"
    explanation = (
        "You cannot sign in because your organization's seatgate contract has ended. "
        "Your organization's owners have been notified."
    )
    owners_notified = True


class DomainRefused(SignInRefused):
    """The e-mail is outside the organization's domains; no seat was taken."""

    step = "domain"
    title = "E-mail domain not allowed"
    explanation = (
        "Your e-mail address is not in one of your organization's domains, so seatgate cannot "
        "let you in. Sign in with your organization account, or ask your administrator."
    )
