"""Load generators, each run in its own process (``spawn``) against nginx.

They behave like the real clients: an identity provider pushing SCIM creates and
(de)activations, and browsers signing in through a SAML IdP (pysaml2, real signatures). A
request that fails with 5xx or a broken connection is retried after a pause, like an IdP
retries; every answer is recorded with its wall-clock time so that the harness can tell the
5xx answered during an injected fault from any other.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.scim.conftest import ERROR
from tests.sso.idp import KeyPair, TestIdentityProvider, encode

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
HANG = -1  # no answer within the client timeout
BROKEN = 0  # connection refused, reset or cut off mid-response
CLIENT_TIMEOUT = 30


@dataclass(frozen=True)
class Plan:
    base_url: str
    slug: str
    token: str
    seconds: float  # how long the load lasts once every worker is ready
    pause: float  # seconds between operations of one worker
    minimum: int  # operations each worker does at least, however slow the machine
    directory: str  # where workers say they are ready and learn when to start
    idp_key: str = ""
    idp_cert: str = ""
    inactive_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    at: float  # when the request was sent
    worker: str
    kind: str  # create, deactivate, reactivate, sign_in
    status: int
    in_form: bool  # a refusal (403) in the protocol's own form; a 503 with Retry-After
    retried: bool  # a retry of an operation that failed with 5xx / a broken connection
    detail: str = ""
    until: float = 0.0  # when its answer (or failure) came back; 0: at once


START_FILE = "start"


def ready_and_wait(plan: Plan, worker: str) -> float:
    """Say this worker is set up, wait for the harness's start signal; returns the deadline."""
    directory = Path(plan.directory)
    (directory / f"ready-{worker}").touch()
    start = directory / START_FILE
    while not start.exists():
        time.sleep(0.05)
    return float(start.read_text() or time.time()) + plan.seconds


class Client:
    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.http = requests.Session()
        self.answers: list[Answer] = []
        self.deadline = float("inf")

    def done(self, plan: Plan, operations: int) -> bool:
        return time.time() >= self.deadline and operations >= plan.minimum

    def call(self, kind: str, method: str, url: str, retried: bool, **options: Any) -> Any:
        """One request; records it and returns the response (``None`` if there was none)."""
        started = time.time()
        try:
            response = self.http.request(method, url, timeout=CLIENT_TIMEOUT, **options)
        except requests.Timeout:
            self.answers.append(
                Answer(started, self.worker, kind, HANG, False, retried, until=time.time())
            )
            return None
        except requests.RequestException as exc:
            # Refused, reset, or cut off mid-body (ChunkedEncodingError) when an instance is
            # killed between writing the headers and the body: all "no usable answer".
            self.answers.append(
                Answer(
                    started, self.worker, kind, BROKEN, False, retried, str(exc)[:200], time.time()
                )
            )
            return None
        detail = response.text[:300] if response.status_code >= 500 else ""
        self.answers.append(
            Answer(
                started,
                self.worker,
                kind,
                response.status_code,
                in_form(response),
                retried,
                detail,
                time.time(),
            )
        )
        return response


def in_form(response: requests.Response) -> bool:
    """A 403 seat refusal in its protocol's form, a 503 with ``Retry-After`` (others: True)."""
    if response.status_code == 503:
        return response.headers.get("Retry-After", "").isdigit()
    if response.status_code != 403:
        return True
    kind = response.headers.get("Content-Type", "")
    if kind.startswith("application/scim+json"):
        body = response.json()
        return body.get("schemas") == [ERROR] and body.get("scimType") == "userLimitReached"
    return kind.startswith("text/html") and "every seat" in response.text


def failed(response: requests.Response | None) -> bool:
    return response is None or response.status_code >= 500


def retrying(plan: Plan, client: Client, kind: str, method: str, url: str, **options: Any) -> Any:
    """Repeat an operation until it gets a non-5xx answer (or the run is long over)."""
    response = client.call(kind, method, url, False, **options)
    while failed(response) and time.time() < client.deadline + 20:
        time.sleep(0.5)
        response = client.call(kind, method, url, True, **options)
    return response


def scim_headers(plan: Plan) -> dict[str, str]:
    return {"Authorization": f"Bearer {plan.token}", "Content-Type": "application/scim+json"}


def set_active(plan: Plan, client: Client, user_id: str, active: bool, kind: str) -> Any:
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": active}}]}
    url = f"{plan.base_url}/scim/v2/Users/{user_id}"
    return retrying(plan, client, kind, "PATCH", url, json=body, headers=scim_headers(plan))


def scim_churn(plan: Plan, worker: str) -> list[Answer]:
    """Create users; deactivate every other one created, so seats keep changing hands."""
    client = Client(worker)
    client.deadline = ready_and_wait(plan, worker)
    for number in itertools.count():
        if client.done(plan, number):
            break
        email = f"{worker}-{number}@{plan.slug}.example.com"
        body = {
            "schemas": [CORE],
            "userName": email,
            "emails": [{"value": email, "type": "work", "primary": True}],
            "active": True,
        }
        url = f"{plan.base_url}/scim/v2/Users"
        created = retrying(
            plan, client, "create", "POST", url, json=body, headers=scim_headers(plan)
        )
        if created is not None and created.status_code == 201 and number % 2:
            set_active(plan, client, created.json()["id"], False, "deactivate")
        time.sleep(plan.pause)
    return client.answers


def scim_reactivate(plan: Plan, worker: str) -> list[Answer]:
    """Reactivate inactive users in turn (a seat each); release again after a success."""
    client = Client(worker)
    client.deadline = ready_and_wait(plan, worker)
    for number, user_id in enumerate(itertools.cycle(plan.inactive_ids)):
        if client.done(plan, number):
            break
        answer = set_active(plan, client, user_id, True, "reactivate")
        if answer is not None and answer.status_code == 200:
            time.sleep(plan.pause)
            set_active(plan, client, user_id, False, "deactivate")
        time.sleep(plan.pause)
    return client.answers


def sso_just_in_time(plan: Plan, worker: str) -> list[Answer]:
    """Unknown people sign in through the IdP; each success takes a seat just in time."""
    client = Client(worker)
    http = requests.Session()
    metadata = http.get(f"{plan.base_url}/sso/{plan.slug}/metadata", timeout=CLIENT_TIMEOUT)
    idp = TestIdentityProvider(KeyPair(Path(plan.idp_key), Path(plan.idp_cert)), [metadata.text])
    client.deadline = ready_and_wait(plan, worker)
    for number in itertools.count():
        if client.done(plan, number):
            break
        email = f"{worker}-{number}@{plan.slug}.example.com"
        response = None
        retried = False
        while failed(response) and time.time() < client.deadline + 20:
            response = sign_in(plan, client, idp, email, retried)
            retried = True
            if failed(response):
                time.sleep(0.5)
        time.sleep(plan.pause)
    return client.answers


def sign_in(
    plan: Plan, client: Client, idp: TestIdentityProvider, email: str, retried: bool
) -> Any:
    """The browser's round trip: seatgate → IdP → seatgate's ACS (with a fresh cookie jar)."""
    client.http.cookies.clear()
    start = client.call(
        "sign_in_start", "GET", f"{plan.base_url}/sso/{plan.slug}/login", retried,
        allow_redirects=False,
    )  # fmt: skip
    if failed(start):
        return start
    request_id, acs_url, relay_state = idp.read_request(start.headers["Location"])
    assert urlsplit(acs_url).path == f"/sso/{plan.slug}/acs"
    xml = idp.response_xml(
        email=email,
        acs_url=acs_url,
        sp_entity_id=f"{plan.base_url}/sso/{plan.slug}/metadata",
        in_response_to=request_id,
    )
    return client.call(
        "sign_in", "POST", f"{plan.base_url}/sso/{plan.slug}/acs", retried,
        data={"SAMLResponse": encode(xml), "RelayState": relay_state}, allow_redirects=False,
        headers={"Accept": "text/html"},
    )  # fmt: skip
