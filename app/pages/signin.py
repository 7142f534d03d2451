"""``/signin``: where a browser without a session is sent; it asks for the organization and
hands over to that organization's SAML sign-in, coming back to the page it came from."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from flask import render_template, request, url_for
from werkzeug.wrappers import Response

from app.organizations import SLUG_PATTERN
from app.pages import blueprint
from app.pages.access import redirect_response

DEFAULT_NEXT = "/settings/billing"
_LOCAL_PATH = re.compile(r"^/(?![/\\])[\x21-\x7e]*$")


def local_next(target: str | None) -> str:
    """Only a path on this site: never another host (no open redirect)."""
    return target if target and _LOCAL_PATH.match(target) else DEFAULT_NEXT


@blueprint.get("/signin")
def signin() -> Response | str:
    next_path = local_next(request.args.get("next"))
    slug = (request.args.get("organization") or "").strip().lower()
    if slug and SLUG_PATTERN.match(slug):
        return redirect_response(
            url_for("sso.login", slug=slug) + "?" + urlencode({"next": next_path})
        )
    error = "Enter your organization's identifier, e.g. acme." if slug else None
    return render_template("signin.html", next_path=next_path, error=error, organization=None)
