"""The ``/sso/<slug>`` blueprint. SAML endpoints arrive with the SSO issue."""

from flask import Blueprint

blueprint = Blueprint("sso", __name__, url_prefix="/sso")
