"""Configuration: defaults → SEATGATE_CONFIG file → SEATGATE_* environment → overrides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import SettingsError, load_settings

GOOD_KEY = "k" * 40


def test_defaults_are_a_runnable_development_setup() -> None:
    settings = load_settings(environ={})
    assert settings.env == "development"
    assert settings.database.is_sqlite
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)


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
        environ={"SEATGATE_ENV": "production", "SEATGATE_SECRET_KEY": GOOD_KEY}
    )
    assert settings.is_production


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
