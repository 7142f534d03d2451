"""Configuration: defaults → SEATGATE_CONFIG file → SEATGATE_* environment → overrides."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import SettingsError, load_settings
from tests.peers import free_port

GOOD_KEY = "k" * 40


def test_defaults_are_a_runnable_development_setup() -> None:
    settings = load_settings(environ={})
    assert settings.env == "development"
    assert settings.database.is_sqlite
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)


@pytest.mark.parametrize(
    ("environ", "base_url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"SEATGATE_SERVER_PORT": "8123"}, "http://127.0.0.1:8123"),
        ({"SEATGATE_SERVER_HOST": "10.1.2.3", "SEATGATE_SERVER_PORT": "80"}, "http://10.1.2.3:80"),
        ({"SEATGATE_SERVER_HOST": "0.0.0.0"}, "http://127.0.0.1:8000"),  # noqa: S104
        ({"SEATGATE_SERVER_HOST": "::1"}, "http://[::1]:8000"),
        ({"SEATGATE_SERVER_PORT": "8123", "SEATGATE_BASE_URL": "https://sg.example.com"},
         "https://sg.example.com"),
    ],
)  # fmt: skip
def test_base_url_defaults_to_where_seatgate_serve_listens(
    environ: dict[str, str], base_url: str
) -> None:
    """The URLs seatgate prints must lead where `seatgate serve` (and `make run`) listens."""
    assert load_settings(environ=environ).base_url == base_url


def test_layers_apply_in_order(tmp_path: Path) -> None:
    config = tmp_path / "seatgate.toml"
    config.write_text('base_url = "https://file.example.com"\n[server]\nport = 9000\nworkers = 3\n')
    environ = {"SEATGATE_CONFIG": str(config), "SEATGATE_SERVER_PORT": "9100"}
    settings = load_settings(overrides={"server": {"workers": 5}}, environ=environ)
    assert settings.base_url == "https://file.example.com"  # from the file
    assert settings.server.port == 9100  # environment beats the file
    assert settings.server.workers == 5  # overrides beat everything


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"SEATGATE_SERVER_PORT": "eighty"}, "server.port"),
        ({"SEATGATE_SERVER_PORT": "70000"}, "server.port"),
        ({"SEATGATE_DATABASE_POOL_SIZE": "0"}, "database.pool_size"),
        ({"SEATGATE_ENV": "staging"}, "env"),
        ({"SEATGATE_BASE_URL": "ftp://x"}, "base_url"),
        ({"SEATGATE_BASE_URL": "https://x.example.com/?next=evil"}, "base_url"),
        ({"SEATGATE_DATABASE_URL": "mysql://x"}, "database.url"),
        ({"SEATGATE_LOG_LEVEL": "LOUD"}, "log_level"),
        ({"SEATGATE_CONFIG": "/nonexistent/seatgate.toml"}, "SEATGATE_CONFIG"),
        # a claimed alert must stay claimed while it is sent (else a second worker resends it)
        ({"SEATGATE_ALERTS_LEASE_SECONDS": "10"}, "alerts.lease_seconds"),
        ({"SEATGATE_ALERTS_LEASE_SECONDS": "30", "SEATGATE_SMTP_TIMEOUT": "30"}, "alerts.lease"),
    ],
)
def test_a_bad_value_names_the_setting(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=f"^{named}"):
        load_settings(environ=environ)


def test_unknown_keys_in_a_file_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "seatgate.toml"
    config.write_text("[database]\nurll = 'sqlite://'\n")
    with pytest.raises(SettingsError, match=r"^database\.urll: unknown setting"):
        load_settings(environ={"SEATGATE_CONFIG": str(config)})


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "seatgate.toml"
    config.write_text("env = \n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(environ={"SEATGATE_CONFIG": str(config)})


def test_production_refuses_the_development_secret_key() -> None:
    with pytest.raises(SettingsError, match="development secret key"):
        load_settings(environ={"SEATGATE_ENV": "production"})
    with pytest.raises(SettingsError, match="at least 32"):
        load_settings(environ={"SEATGATE_ENV": "production", "SEATGATE_SECRET_KEY": "short"})
    settings = load_settings(
        environ={
            "SEATGATE_ENV": "production",
            "SEATGATE_SECRET_KEY": GOOD_KEY,
            "SEATGATE_BASE_URL": "https://seatgate.example.com",
        }
    )
    assert settings.is_production


def test_production_refuses_a_plain_http_base_url_unless_told_to_accept_it() -> None:
    production = {"SEATGATE_ENV": "production", "SEATGATE_SECRET_KEY": GOOD_KEY}
    with pytest.raises(SettingsError, match=r"^base_url: production needs an https:// URL"):
        load_settings(environ={**production, "SEATGATE_BASE_URL": "http://seatgate.example.com"})
    accepted = load_settings(
        environ={
            **production,
            "SEATGATE_BASE_URL": "http://seatgate.example.com",
            "SEATGATE_ALLOW_INSECURE_BASE_URL": "true",
        }
    )
    assert accepted.base_url == "http://seatgate.example.com" and accepted.allow_insecure_base_url
    assert not load_settings(environ={}).allow_insecure_base_url  # off unless said
    assert load_settings(environ={"SEATGATE_BASE_URL": "http://127.0.0.1:8000"}).base_url


def test_serve_stops_at_once_on_an_insecure_production_base_url(tmp_path: Path) -> None:
    seatgate = Path(sys.executable).parent / "seatgate"
    env = {
        **os.environ,
        "SEATGATE_ENV": "production",
        "SEATGATE_SECRET_KEY": GOOD_KEY,
        "SEATGATE_BASE_URL": "http://seatgate.example.com",
        "SEATGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'never.sqlite3'}",
    }
    returncode, stderr = run_briefly([str(seatgate), "serve", "--port", str(free_port())], env)
    assert returncode == 2
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert stderr.startswith("error: configuration: base_url: production needs an https")
    assert "allow_insecure_base_url" in stderr


def test_gunicorn_on_the_wsgi_module_stops_with_the_setting_named(tmp_path: Path) -> None:
    """Started without ``seatgate serve`` (a process manager calling gunicorn itself)."""
    env = {
        **os.environ,
        "SEATGATE_ENV": "production",
        "SEATGATE_SECRET_KEY": GOOD_KEY,
        "SEATGATE_BASE_URL": "http://seatgate.example.com",
        "SEATGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'never.sqlite3'}",
    }
    bind = f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", "1"]
    returncode, stderr = run_briefly([*command, "app.wsgi:application"], env)
    assert returncode != 0
    assert "error: configuration: base_url: production needs an https" in stderr
    assert "Traceback" not in stderr


def run_briefly(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a command that must stop by itself; if it serves instead, stop it and its workers."""
    process = subprocess.Popen(
        command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError(f"{command[:3]} kept running") from None
    return process.returncode, stderr


def test_the_example_production_file_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "example.toml"
    settings = load_settings(
        environ={"SEATGATE_CONFIG": str(example), "SEATGATE_SECRET_KEY": GOOD_KEY}
    )
    assert settings.is_production and settings.database.url.startswith("postgresql")


def test_the_console_script_stops_with_the_setting_named() -> None:
    seatgate = Path(sys.executable).parent / "seatgate"
    env = {**os.environ, "SEATGATE_SERVER_PORT": "eighty"}
    result = subprocess.run(
        [str(seatgate), "seats", "show", "x"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "server.port: expected an integer" in result.stderr
    assert "Traceback" not in result.stderr
