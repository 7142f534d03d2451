"""The bench report compares each figure with its peer's and judges the issue's targets."""

from __future__ import annotations

from typing import Any

from bench.summary import summarize


def _measure(contender: str, scenario: str, users: int, rate: float) -> dict[str, Any]:
    return {
        "engine": "postgresql",
        "contender": contender,
        "scenario": scenario,
        "users": users,
        "rate": rate,
        "p50_ms": 1.0,
        "p99_ms": 2.0,
        "errors": 0,
    }


def test_ratios_and_verdicts() -> None:
    report = {
        "machine": {"cores": 2},
        "facts": {
            "postgresql_initial_sync": {
                "users": 10000,
                "clients": 8,
                "created": 8000,
                "seconds": 75.0,
                "failures": 0,
                "projected_seconds": 93.8,
            },
            "postgresql_rss_mb_per_worker": [120.0, 130.0],
            "rss_database_users": 110000,
        },
        "measures": [
            _measure("seatgate", "get", 10000, 900),
            _measure("scim2-server", "get", 10000, 600),
            _measure("flask-ceiling", "get", 0, 2000),
            _measure("seatgate", "filter", 10000, 500),
            _measure("seatgate", "filter", 100000, 400),
            _measure("scim2-server", "filter", 10000, 450),
            _measure("seatgate", "post", 10000, 70),
            _measure("scim2-server", "post", 10000, 100),
        ],
    }
    text = summarize(report)
    assert "| GET /Users/{id} ≥ 1.0 × scim2-server | postgresql | 1.50× | **met** |" in text
    assert "| GET /Users/{id} ≥ 0.5 × flask-ceiling | postgresql | 0.45× | **not met** |" in text
    assert (
        "| filter at 100,000 at most 1.2 × slower than at 10,000 | postgresql | 1.25× slower"
        in text
    )
    assert "0.70× | **not met** |" in text  # POST on PostgreSQL
    assert "8,000 created in 75.0 s (all 10,000: ~94 s), 0 failures | **not met** |" in text
    assert "130 MB (largest of 2 workers) | **met** |" in text
