"""seatgate in-process with a loaded organization, for the tools that call it directly
(``bench.profile``, ``bench.beside_ceiling``): the settings ``make bench`` serves it with."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from app import create_app, database_of
from app.db import Database
from app.migrations_runner import upgrade_database
from bench import dataset, load
from bench import saml as bench_saml

BASE_URL = "http://127.0.0.1:18080"
SECRET_KEY = "p" * 40


@dataclass(frozen=True)
class Loaded:
    """The app, its database and the loaded organization."""

    app: Flask
    database: Database
    organization: load.LoadedOrganization
    workdir: Path  # a temporary directory that lives as long as the app

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.organization.scim_token}"}

    def signed_responses(self, users: Sequence[int]) -> list[str]:
        """One signed IdP-initiated response (unique ids) for each loaded user index, from a
        new test IdP the organization is configured to trust: each can sign in once."""
        keys = bench_saml.new_keys(self.workdir)
        slug = self.organization.slug
        metadata, _ = bench_saml.configure_idp(
            self.database, slug, base_url=BASE_URL, secret_key=SECRET_KEY, keys=keys
        )
        emails = [dataset.user_name(i) for i in users]
        return bench_saml.make_responses(
            keys, metadata, base_url=BASE_URL, slug=slug, emails=emails, workers=2
        )


@contextmanager
def loaded_seatgate(
    database_url: str | None, users: int, *, log_level: str = "INFO"
) -> Iterator[Loaded]:
    """seatgate on ``database_url`` (empty; default: a new SQLite file) with one organization
    of ``users`` users, as ``make bench`` serves it: production settings, the bench's rate
    limit (the limiter still counts every request), no background alert delivery."""
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{tmp}/bench.sqlite3"
        upgrade_database(url)
        app = create_app(
            {
                "env": "production",
                "secret_key": SECRET_KEY,
                "base_url": BASE_URL,
                "allow_insecure_base_url": True,  # loopback only
                "database": {"url": url},
                "log_level": log_level,
                "limits": {"requests_per_minute": 10**9},
                "alerts": {"deliver_in_background": False},
            }
        )
        database = database_of(app)
        organization = load.create_bench_organization(database, "bench", seats=10)
        load.load_users(database, organization, users)
        try:
            yield Loaded(app, database, organization, Path(tmp))
        finally:
            database.dispose()
