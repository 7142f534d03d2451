"""The words of each alert: subject, plain text, HTML, and the Slack-compatible webhook text.

Rendered from the alert's stored details only, so every retry of a delivery says exactly the
same thing, and the e-mail, the webhook and the in-app list never disagree.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.models import Alert, AlertKind
from app.money import format_minor
from app.outbound import REFUSED

SOURCE_NAMES = {
    "scim": "SCIM provisioning",
    "sso": "SSO sign-in",
    "cli": "the command line",
    "web": "the web",
}


@dataclass(frozen=True)
class RenderedAlert:
    """A message's words; ``billing_url`` is the one link it ends with (for a sign-in link
    e-mail, the sign-in link itself, labelled accordingly)."""

    subject: str
    paragraphs: tuple[str, ...]
    billing_url: str
    text_label: str = "Billing"
    html_label: str = "Open the billing page"

    @property
    def text(self) -> str:
        return "\n\n".join((*self.paragraphs, f"{self.text_label}: {self.billing_url}")) + "\n"

    @property
    def html(self) -> str:
        body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in self.paragraphs)
        link = html.escape(self.billing_url, quote=True)
        label = html.escape(self.html_label)
        return f'<!DOCTYPE html><html><body>{body}<p><a href="{link}">{label}</a></p></body></html>'

    @property
    def slack_text(self) -> str:
        return f"*{self.subject}*\n{self.text}"


def render(alert: Alert, organization_name: str, base_url: str) -> RenderedAlert:
    details = alert.details
    subject, paragraphs = _WRITERS[AlertKind(alert.kind)](details)
    if "purchased" in details:
        paragraphs.append(
            f"Seats: {details['purchased']} purchased, {details['assigned']} assigned, "
            f"{details['free']} free."
        )
    return RenderedAlert(
        subject=f"[{organization_name}] {subject}",
        paragraphs=tuple(paragraphs),
        billing_url=f"{base_url.rstrip('/')}/settings/billing",
    )


def _seats_low(d: dict[str, Any]) -> tuple[str, list[str]]:
    return (
        f"Seats running low: {d['threshold']}",
        [
            f"Threshold crossed ({d['threshold']}): {d['assigned']} of {d['purchased']} "
            "seats are assigned. New users are refused once every seat is taken; a Primary Owner "
            "can add seats now from the billing page."
        ],
    )


def _seats_exhausted(d: dict[str, Any]) -> tuple[str, list[str]]:
    return (
        "No free seat left",
        [
            f"All {d['purchased']} seats are assigned. New users will be refused at "
            "provisioning and sign-in until a Primary Owner adds seats or a seat is released."
        ],
    )


def _seats_refused(d: dict[str, Any]) -> tuple[str, list[str]]:
    count = int(d["refusals"])
    noun = "request was" if count == 1 else "requests were"
    people = list(d["people"])
    more = int(d["more_people"])
    listed = "\n".join(f"- {person}" for person in people)
    if more:
        listed += f"\n- and {more} more"
    doors = ", ".join(
        f"{n} at {SOURCE_NAMES.get(source, source)}" for source, n in sorted(d["by_source"].items())
    )
    who = len(people) + more
    return (
        f"Refused for lack of a seat: {who} {'person' if who == 1 else 'people'}",
        [
            f"{count} {noun} refused because no seat could be given ({doors}).",
            f"Refused:\n{listed}",
            f"Reason: {d.get('last_reason', '')}",
            "Add seats or release unused ones so these people can get in.",
        ],
    )


def _seats_added(d: dict[str, Any]) -> tuple[str, list[str]]:
    total = f"{format_minor(int(d['total_minor']), str(d['currency']))} {d['currency']}"
    return (
        f"{d['quantity']} seats added, invoice {d['invoice']} issued",
        [
            f"{d['purchaser']} added {d['quantity']} seats. Invoice {d['invoice']} for "
            f"{total} was issued at once, prorated for the rest of the term."
        ],
    )


def _contract_renewed(d: dict[str, Any]) -> tuple[str, list[str]]:
    return (
        f"Contract renewed with {d['purchased']} seats",
        [
            f"The contract renewed for {d['term_start']} to {d['term_end']} with the "
            f"{d['purchased']} seats in use at the end of the term. Add seats before new "
            "users arrive."
        ],
    )


def _contract_ending(d: dict[str, Any]) -> tuple[str, list[str]]:
    days = int(d["days_left"])
    when = "tomorrow" if days == 1 else f"in {days} days"
    return (
        f"Contract ends {when} ({d['term_end']})",
        [
            f"The contract ends on {d['term_end']} ({when}) and does not renew "
            "automatically. After that date no new seat can be assigned."
        ],
    )


def _webhook_disabled(d: dict[str, Any]) -> tuple[str, list[str]]:
    if d["reason"] == REFUSED:
        why = (
            f"The webhook {d['url']} does not point at a public internet address (its host "
            "is, or now resolves to, a loopback, private or otherwise internal address), so "
            "seatgate stopped sending alerts to it without calling it."
        )
    else:
        why = (
            f"The webhook {d['url']} answered {d['reason']}, so seatgate stopped sending "
            "alerts to it."
        )
    return ("Alert webhook disabled", [why + " Add it again once it is fixed."])


def _certificate_expiring(d: dict[str, Any]) -> tuple[str, list[str]]:
    days = d["days_left"]
    whose = (
        "Your identity provider's SAML signing certificate"
        if d["certificate"] == "idp"
        else "seatgate's SAML signing certificate for your organization"
    )
    action = (
        "Ask your IT admin to add the new certificate at the identity provider and upload the "
        "new metadata (old and new certificates may be pinned together during the change)."
        if d["certificate"] == "idp"
        else "Ask your seatgate operator to renew it; then re-import seatgate's SP metadata."
    )
    return (
        f"SAML certificate expires in {days} day{'s' if days != 1 else ''}",
        [
            f"{whose} ({d['subject']}, SHA-256 {d['sha256']}) expires on "
            f"{d['expires_at'][:10]}. After that, single sign-on stops working.",
            action,
        ],
    )


_SSO_SUBJECTS = {
    "configured": "Identity provider configuration changed",
    "submitted": "Identity provider configuration waiting for your approval",
    "approved": "Identity provider configuration approved",
    "rejected": "Identity provider configuration rejected",
    "scim_token_submitted": "SCIM token waiting for your approval",
    "scim_token_approved": "SCIM token approved",
    "scim_token_rejected": "SCIM token rejected",
}
_SSO_NEXT = {
    "configured": "Sign-ins now use this configuration. If you did not expect this change, "
    "ask your seatgate operator at once.",
    "submitted": "Nothing changes until an Owner or the Primary Owner approves it on the billing "
    "page; until then sign-ins keep using the current configuration. Reject it there if you "
    "did not ask for it.",
    "approved": "Sign-ins now use this configuration.",
    "rejected": "Nothing changed: sign-ins keep using the current configuration.",
    "scim_token_submitted": "The token is refused until an Owner or the Primary Owner approves "
    "it on the billing page. Reject it there if you did not ask for it.",
    "scim_token_approved": "The identity provider can now provision users with this token.",
    "scim_token_rejected": "The token is revoked; nothing was provisioned with it.",
}


def _who(d: dict[str, Any]) -> str:
    """Who made the change, in words: a setup link names the owner who created it."""
    link = d.get("setup_link")
    if str(d["by"]).startswith("setup-link:") and link:
        return f"the holder of setup link {link['id']} (created by {link['created_by']})"
    if d.get("source") == "cli":
        return f"the operator ({d['by']}), on the command line"
    return str(d["by"])


def _idp_lines(idp: dict[str, Any]) -> str:
    lines = [f"Entity id: {idp['entity_id']}", f"SSO URL: {idp['sso_url']}"]
    if idp.get("slo_url"):
        lines.append(f"Single logout URL: {idp['slo_url']}")
    lines.append("Signing certificates:")
    lines += [
        f"- SHA-256 {c['sha256']} ({c['subject']}), expires {c['not_valid_after'][:10]}"
        for c in idp["certificates"]
    ]
    return "\n".join(lines)


def _sso_changed(d: dict[str, Any]) -> tuple[str, list[str]]:
    change = str(d["change"])
    paragraphs = [f"{_SSO_SUBJECTS[change]}, by {_who(d)}."]
    if "scim_token" in d:
        token = d["scim_token"]
        paragraphs.append(f"SCIM token {token['id']} ({token['label']}).")
    if "idp" in d:
        paragraphs.append(_idp_lines(d["idp"]))
    previous = d.get("previous")
    if previous and "idp" in d:
        before = {c["sha256"] for c in previous["certificates"]}
        after = {c["sha256"] for c in d["idp"]["certificates"]}
        if before != after:
            added = ", ".join(sorted(after - before)) or "none"
            removed = ", ".join(sorted(before - after)) or "none"
            paragraphs.append(f"Certificates added: {added}.\nCertificates removed: {removed}.")
        paragraphs.append("Before the change:\n" + _idp_lines(previous))
    paragraphs.append(_SSO_NEXT[change])
    return _SSO_SUBJECTS[change], paragraphs


def render_sign_in_link(
    organization_name: str, url: str, *, lifetime_minutes: int
) -> RenderedAlert:
    """The e-mail carrying an owner's one-time sign-in link (never stored once sent)."""
    return RenderedAlert(
        subject=f"[{organization_name}] Your seatgate sign-in link",
        paragraphs=(
            f"Someone, hopefully you, asked for a link to sign in to {organization_name}'s "
            "billing pages on seatgate.",
            f"The link works once, within {lifetime_minutes} minutes, and opens a billing "
            "session only (no seat, no access to the product). If you did not ask for it, "
            "ignore this message: nobody can sign in without the link.",
        ),
        billing_url=url,
        text_label="Sign in",
        html_label="Sign in to seatgate",
    )


def _sso_misconfigured(d: dict[str, Any]) -> tuple[str, list[str]]:
    return (
        "Single sign-on is misconfigured",
        [
            "Nobody can sign in with single sign-on: seatgate cannot use the identity "
            f"provider settings saved for your organization ({d['reason']}).",
            "Ask your IT admin to upload corrected metadata through a setup link, or your "
            "seatgate operator to run `seatgate sso configure`. You are told again each day "
            "until it is fixed.",
        ],
    )


_WRITERS: dict[AlertKind, Callable[[dict[str, Any]], tuple[str, list[str]]]] = {
    AlertKind.SEATS_LOW: _seats_low,
    AlertKind.SEATS_EXHAUSTED: _seats_exhausted,
    AlertKind.SEATS_REFUSED: _seats_refused,
    AlertKind.SEATS_ADDED: _seats_added,
    AlertKind.CONTRACT_RENEWED: _contract_renewed,
    AlertKind.CONTRACT_ENDING: _contract_ending,
    AlertKind.WEBHOOK_DISABLED: _webhook_disabled,
    AlertKind.CERTIFICATE_EXPIRING: _certificate_expiring,
    AlertKind.SSO_CHANGED: _sso_changed,
    AlertKind.SSO_MISCONFIGURED: _sso_misconfigured,
}
