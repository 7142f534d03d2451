"""Every `seatgate` command, as a script or an operator uses it: stdout is one JSON document
(`seatgate … | jq` works), `--help` shows seatgate's own commands in plain words, and a
database that is down, missing or not migrated is one line naming it, with exit status 2."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import Result
from flask import Flask
from flask.cli import ScriptInfo
from flask.testing import FlaskCliRunner
from sqlalchemy.engine import make_url

from app import create_app, database_of
from app.cli import cli
from app.crypto import new_rsa_key, self_signed_certificate
from app.migrations_runner import head_revision, upgrade_database
from tests.conftest import PG_SERVER_URL
from tests.peers import LOOPBACK_RECEIVERS, free_port

SEATGATE = str(Path(sys.executable).parent / "seatgate")
NOT_RUN_IN_PROCESS = {"serve"}  # replaces the process with gunicorn: tests/app/test_serving.py


def leaf_commands(flask_app: Flask) -> set[str]:
    """Every command an operator can run, as its words ("seats claim")."""

    def walk(group: click.Group, ctx: click.Context, prefix: str) -> Iterator[str]:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if isinstance(command, click.Group):
                yield from walk(command, ctx, f"{prefix}{name} ")
            elif command is not None:
                yield f"{prefix}{name}"

    ctx = click.Context(cli, obj=ScriptInfo(create_app=lambda: flask_app))
    with ctx:
        return set(walk(cli, ctx, ""))


def happy_paths(certificate: Path, ids: dict[str, str]) -> list[list[str]]:
    """One working invocation of each command, in an order where each one can succeed.
    ``ids`` holds what earlier commands printed (a webhook's id, a token's id)."""
    return [
        ["db", "upgrade"],
        ["org", "create", "acme", "--name", "Acme", "--seats", "3", "--seat-price", "30.00",
         "--term-start", "2026-01-01", "--primary-owner", "po@acme.example.com"],
        ["org", "list"],
        ["org", "show", "acme"],
        ["org", "update", "acme", "--locale", "es", "--legal-name", "Acme S.L.",
         "--address", "Calle Mayor 1\n28013 Madrid", "--tax-id", "ESB12345678",
         "--next-term-price", "32.50", "--auto-renew"],
        ["member", "add", "acme", "alex@acme.example.com", "--role", "owner"],
        ["member", "add", "acme", "sam@acme.example.com"],
        ["member", "list", "acme"],
        ["member", "transfer-primary", "acme", "alex@acme.example.com"],
        ["seats", "show", "acme"],
        ["seats", "quote", "acme", "2", "--at", "2026-03-01"],
        ["seats", "add", "acme", "1", "--by", "alex@acme.example.com", "--at", "2026-03-01"],
        ["seats", "claim", "acme", "sam@acme.example.com"],
        ["seats", "release", "acme", "sam@acme.example.com"],
        ["seats", "recount", "acme"],
        ["ledger", "verify", "acme", "--no-alert"],
        ["renew", "--today", "2026-06-01"],
        ["member", "remove", "acme", "sam@acme.example.com"],
        ["alerts", "deliver", "--once"],
        ["alerts", "list", "acme"],
        ["alerts", "policy", "acme"],
        ["webhook", "add", "acme", "https://hooks.example.com/seatgate"],
        ["webhook", "list", "acme"],
        ["webhook", "remove", "acme", ids.get("webhook", "1")],
        ["token", "create", "acme", "--label", "Okta"],
        ["token", "list", "acme"],
        ["token", "revoke", "acme", ids.get("token", "1")],
        ["roles", "map", "acme", "Admins", "admin"],
        ["roles", "list", "acme"],
        ["roles", "unmap", "acme", "Admins"],
        ["domain", "add", "acme", "acme.example.com"],
        ["domain", "list", "acme"],
        ["domain", "remove", "acme", "acme.example.com"],
        ["waiting-list", "show", "acme"],
        ["waiting-list", "auto", "acme", "--on"],
        ["setup-link", "create", "acme"],
        ["setup-link", "list", "acme"],
        ["setup-link", "revoke", "acme", ids.get("setup-link", "1")],
        ["logs", "prune"],
        ["keys", "rotate"],
        ["keys", "list"],
        ["sso", "configure", "acme", "--entity-id", "https://idp.example.com/metadata",
         "--sso-url", "https://idp.example.com/sso", "--cert", str(certificate)],
        ["sso", "show", "acme"],
        ["api-token", "acme", "alex@acme.example.com"],
        ["dev", "login-link", "acme", "alex@acme.example.com"],
        ["demo"],
        ["serve", "--port", "1"],
    ]  # fmt: skip


def words(args: list[str], commands: set[str]) -> str:
    """The command an invocation runs ("seats claim", "demo")."""
    two = " ".join(args[:2])
    return two if two in commands else args[0]


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    path = tmp_path / "idp.pem"
    path.write_text(self_signed_certificate(new_rsa_key(), "idp.example.com"))
    return path


def development_app(database_url: str) -> Iterator[Flask]:
    """Development, where every command exists (``dev login-link`` only there)."""
    # The webhook added below names a host this machine cannot resolve (no network here).
    flask_app = create_app(
        {"env": "development", "database": {"url": database_url}, **LOOPBACK_RECEIVERS}
    )
    yield flask_app
    database_of(flask_app).dispose()


@pytest.fixture
def dev_app(database_url: str) -> Iterator[Flask]:
    yield from development_app(database_url)


def test_every_command_prints_one_json_document(dev_app: Flask, certificate: Path) -> None:
    runner = dev_app.test_cli_runner()
    commands = leaf_commands(dev_app)
    ids: dict[str, str] = {}
    covered = set()
    for args in happy_paths(certificate, ids):
        command = words(args, commands)
        if command in NOT_RUN_IN_PROCESS:
            covered.add(command)
            continue
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        document = json.loads(result.stdout)  # the whole of stdout, nothing before or after
        covered.add(command)
        if command in {"webhook add", "token create", "setup-link create"}:
            ids[command.split()[0]] = str(document["id"])
    assert covered == commands, "a command without a happy path here"


def test_the_scim_token_is_inside_the_document(dev_app: Flask) -> None:
    runner = dev_app.test_cli_runner()
    runner.invoke(cli, happy_paths(Path(), {})[1])
    created = json.loads(runner.invoke(cli, ["token", "create", "acme"]).stdout)
    assert created["token"].startswith("sgscim_")
    listed = json.loads(runner.invoke(cli, ["token", "list", "acme"]).stdout)
    assert "token" not in listed[0]  # shown once, at creation


def all_help(flask_app: Flask) -> dict[str, str]:
    """``--help`` of the top level and of every group and command."""
    runner = flask_app.test_cli_runner()
    pages = {"": runner.invoke(cli, ["--help"]).stdout}
    for command in leaf_commands(flask_app):
        for depth in range(1, len(command.split()) + 1):
            path = command.split()[:depth]
            result = runner.invoke(cli, [*path, "--help"])
            assert result.exit_code == 0, result.output
            pages[" ".join(path)] = result.stdout
    return pages


def test_help_lists_seatgates_commands_only_in_plain_words(dev_app: Flask) -> None:
    pages = all_help(dev_app)
    top = pages[""]
    listed = set(re.findall(r"^  ([a-z][a-z-]*)\s", top.split("Commands:")[1], re.MULTILINE))
    assert listed == {command.split()[0] for command in leaf_commands(dev_app)}
    assert not listed & {"run", "shell", "routes"}
    for option in ("--app", "--env-file", "--debug"):
        assert option not in top
    for command, page in pages.items():
        assert not re.search(r"\((R|I)\d+\)", page), f"a rule code in `{command} --help`"
    for group in ("alerts", "webhook", "dev", "org", "member"):  # each says what it is for
        assert re.search(rf"^  {group}\s+\S", top, re.MULTILINE), group


def test_hidden_flask_options_still_work(dev_app: Flask) -> None:
    result = dev_app.test_cli_runner().invoke(cli, ["--debug", "org", "list"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []


# A database that is not ready: every command says so in one line and exits 2.


def unmigrated_sqlite(tmp_path: Path) -> str:
    path = tmp_path / "unmigrated.sqlite3"
    sqlite3.connect(path).close()
    return f"sqlite:///{path}"


def refused_for_the_database(runner: FlaskCliRunner, args: list[str]) -> str:
    result: Result = runner.invoke(cli, args)
    assert result.exit_code == 2, (args, result.output, result.exception)
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    return line


@pytest.mark.parametrize("state", ["unmigrated sqlite", "postgresql nobody listens on"])
def test_every_command_names_a_database_that_is_not_ready(
    state: str, tmp_path: Path, certificate: Path
) -> None:
    if state == "unmigrated sqlite":
        url = unmigrated_sqlite(tmp_path)
        shown, problem = url, "has no seatgate schema: run `seatgate db upgrade`"
    else:
        url = f"postgresql+psycopg://seatgate:s3cret@127.0.0.1:{free_port()}/seatgate"
        shown, problem = url.replace("s3cret", "***"), "cannot be reached"
    flask_app = create_app({"env": "development", "database": {"url": url}})
    runner = flask_app.test_cli_runner()
    commands = leaf_commands(flask_app)
    checked = set()
    for args in happy_paths(certificate, {}):
        if state == "unmigrated sqlite" and args == ["db", "upgrade"]:
            continue  # the fix itself
        line = refused_for_the_database(runner, args)
        assert line.startswith(f"error: database {shown} ") and problem in line, line
        assert "seatgate db upgrade" in line and "s3cret" not in line
        checked.add(words(args, commands))
    assert checked | {"db upgrade"} == commands
    database_of(flask_app).dispose()


def run_seatgate(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SEATGATE_DATABASE_URL": url}
    return subprocess.run(
        [SEATGATE, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def assert_one_line(completed: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert completed.returncode == 2, completed.stderr
    assert completed.stdout == ""
    assert "Traceback" not in completed.stderr
    [line] = completed.stderr.splitlines()
    for text in expected:
        assert text in line, line


@pytest.mark.parametrize("command", [["org", "list"], ["serve"], ["alerts", "deliver"], ["demo"]])
def test_the_installed_command_and_serve_say_it_in_one_line(
    command: list[str], tmp_path: Path
) -> None:
    """The real console script, as `make run` runs it: no traceback, before any gunicorn."""
    url = unmigrated_sqlite(tmp_path)
    assert_one_line(run_seatgate(url, *command), str(tmp_path), "run `seatgate db upgrade`")


def test_a_missing_sqlite_file_is_named_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "seatgate.sqlite3"
    assert_one_line(
        run_seatgate(f"sqlite:///{missing}", "org", "list"),
        f"database sqlite:///{missing} does not exist: run `seatgate db upgrade` to create it",
    )
    assert not missing.parent.exists()


def test_a_schema_behind_or_ahead_of_the_release(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade_database(url, "0005")
    assert_one_line(
        run_seatgate(url, "org", "list"),
        f"is at migration 0005, this release needs {head_revision()}: run `seatgate db upgrade`",
    )
    with sqlite3.connect(tmp_path / "old.sqlite3") as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'f00d'")
    assert_one_line(
        run_seatgate(url, "serve"), "at migration f00d, which this release does not know"
    )


@pytest.mark.skipif(not PG_SERVER_URL, reason="needs SEATGATE_TEST_POSTGRES_URL")
@pytest.mark.parametrize("command", [["org", "list"], ["serve"], ["db", "upgrade"]])
def test_a_postgresql_database_that_does_not_exist(command: list[str]) -> None:
    server = make_url(PG_SERVER_URL)
    url = server.set(password="s3cret", database=f"seatgate_missing_{os.getpid()}")
    completed = run_seatgate(url.render_as_string(hide_password=False), *command)
    assert_one_line(
        completed,
        url.render_as_string(hide_password=True),
        f'database "seatgate_missing_{os.getpid()}" does not exist',
        "then run `seatgate db upgrade`",
    )
    assert "s3cret" not in completed.stderr
