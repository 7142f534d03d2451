"""The framework's ceiling on this machine: Flask answering a fixed SCIM User body."""

from __future__ import annotations

import json

from flask import Flask, Response

from bench import dataset

application = Flask(__name__)
_BODY = json.dumps({**dataset.scim_user(0), "id": dataset.resource_id(0)})


@application.get("/Users/<resource_id>")
def get_user(resource_id: str) -> Response:
    return Response(_BODY, mimetype="application/scim+json")
