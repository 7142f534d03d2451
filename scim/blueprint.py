"""The ``/scim/v2`` blueprint. Resource endpoints arrive with the SCIM Users issue."""

from flask import Blueprint

blueprint = Blueprint("scim", __name__, url_prefix="/scim/v2")
