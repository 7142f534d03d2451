"""The report of one ``make bench`` run: every figure beside its peer's, and the targets.

``python -m bench.summary bench/out/results-….json`` prints it again from the raw numbers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

Measures = list[dict[str, Any]]

SCENARIOS = {
    "get": "GET /Users/{id}",
    "filter": 'GET /Users?filter=userName eq "…"',
    "page": "GET /Users?startIndex=…&count=100",
    "post": "POST /Users (seat claim, ledger event, alert check)",
    "acs": "SAML ACS (signed response, unique ids)",
}
PEERS = {"acs": "python3-saml"}  # every other scenario: scim2-server


def _find(measures: Measures, **wanted: Any) -> dict[str, Any] | None:
    return next((m for m in measures if all(m.get(k) == v for k, v in wanted.items())), None)


def _peer(measures: Measures, engine: str, scenario: str, users: int) -> dict[str, Any] | None:
    name = PEERS.get(scenario, "scim2-server")
    if scenario == "acs":  # the stock ACS ran on the very responses of that size's run
        return _find(measures, engine=engine, scenario=scenario, users=users, contender=name)
    return _find(measures, engine=engine, scenario=scenario, contender=name)


def _figures(measures: Measures, engines: list[str], sizes: list[int]) -> list[str]:
    lines = [
        "| engine | scenario | users | seatgate req/s | p50 ms | p99 ms | peer"
        " | peer req/s | peer p50 ms | ratio |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for engine in engines:
        for scenario, title in SCENARIOS.items():
            for users in sizes:
                ours = _find(
                    measures, engine=engine, scenario=scenario, users=users, contender="seatgate"
                )
                if ours is None:
                    continue
                peer = _peer(measures, engine, scenario, users)
                cells = [engine, title, f"{users:,}", f"{ours['rate']:.0f}"]
                cells += [f"{ours['p50_ms']:.1f}", f"{ours['p99_ms']:.1f}"]
                if peer:
                    cells += [f"{peer['contender']} ({peer['users']:,} users)"]
                    cells += [f"{peer['rate']:.0f}", f"{peer['p50_ms']:.1f}"]
                    cells += [f"{ours['rate'] / peer['rate']:.2f}×"]
                else:
                    cells += ["–", "–", "–", "–"]
                lines.append("| " + " | ".join(cells) + " |")
        flask = _find(measures, engine=engine, scenario="get", contender="flask-ceiling")
        if flask:
            lines.append(
                f"| {engine} | bare Flask, fixed body (ceiling) | – | {flask['rate']:.0f}"
                f" | {flask['p50_ms']:.1f} | {flask['p99_ms']:.1f} | | | | |"
            )
    return lines


def _row(target: str, engine: str, measured: str, met: bool | None) -> str:
    verdict = "n/a" if met is None else ("**met**" if met else "**not met**")
    return f"| {target} | {engine} | {measured} | {verdict} |"


def _targets(
    measures: Measures, facts: dict[str, Any], engine: str, small: int, large: int
) -> list[str]:
    rows = []

    def seatgate(scenario: str, users: int) -> dict[str, Any] | None:
        return _find(measures, engine=engine, scenario=scenario, users=users, contender="seatgate")

    get = seatgate("get", small)
    for peer_name, floor in (("scim2-server", 1.0), ("flask-ceiling", 0.5)):
        peer = _find(measures, engine=engine, scenario="get", contender=peer_name)
        if get and peer:
            ratio = get["rate"] / peer["rate"]
            target = f"GET /Users/{{id}} ≥ {floor} × {peer_name}"
            rows.append(_row(target, engine, f"{ratio:.2f}×", ratio >= floor))
    big, little = seatgate("filter", large), seatgate("filter", small)
    peer = _find(measures, engine=engine, scenario="filter", contender="scim2-server")
    if big and peer:
        ratio = big["rate"] / peer["rate"]
        target = f"filter at {large:,} ≥ 1.0 × scim2-server at {peer['users']:,}"
        rows.append(_row(target, engine, f"{ratio:.2f}×", ratio >= 1.0))
    if big and little and large != small:
        slower = little["rate"] / big["rate"]
        target = f"filter at {large:,} at most 1.2 × slower than at {small:,}"
        rows.append(_row(target, engine, f"{slower:.2f}× slower", slower <= 1.2))
    post = seatgate("post", small)
    peer = _find(measures, engine=engine, scenario="post", contender="scim2-server")
    if post and peer:
        ratio = post["rate"] / peer["rate"]
        met = ratio >= 0.8 if engine == "postgresql" else None
        rows.append(
            _row("POST /Users ≥ 0.8 × scim2-server (PostgreSQL)", engine, f"{ratio:.2f}×", met)
        )
    for users in sorted({small, large}):
        acs = seatgate("acs", users)
        stock = _find(
            measures, engine=engine, scenario="acs", users=users, contender="python3-saml"
        )
        if acs and stock:
            ratio = acs["rate"] / stock["rate"]
            target = f"ACS ≥ 1.5 × stock process_response ({users:,} users, end to end)"
            rows.append(_row(target, engine, f"{ratio:.2f}×", ratio >= 1.5))
        check = _find(
            measures, engine=engine, scenario="acs", users=users, contender="seatgate-check"
        )
        if check and stock:
            ratio = stock["p50_ms"] / check["p50_ms"]
            target = f"ACS validation step ≥ 1.5 × stock process_response ({users:,} users)"
            measured = f"{ratio:.2f}× ({check['p50_ms']:.2f} vs {stock['p50_ms']:.2f} ms each)"
            rows.append(_row(target, engine, measured, ratio >= 1.5))
    sync = facts.get(f"{engine}_initial_sync")
    if sync:
        done = sync["created"] == sync["users"] and not sync["failures"]
        measured = f"{sync['created']:,} created in {sync['seconds']} s"
        if not done:
            measured += f" (all {sync['users']:,}: ~{sync['projected_seconds']:.0f} s)"
        measured += f", {sync['failures']} failures"
        target = f"initial sync: {sync['users']:,} users, 8 clients, < 60 s"
        rows.append(_row(target, engine, measured, done and sync["seconds"] < 60))
    rss = facts.get(f"{engine}_rss_mb_per_worker")
    if rss:
        measured = f"{max(rss):.0f} MB (largest of {len(rss)} workers)"
        target = f"RSS per worker < 150 MB, {facts.get('rss_database_users', 0):,} users served"
        rows.append(_row(target, engine, measured, max(rss) < 150))
    return rows


def summarize(report: dict[str, Any]) -> str:
    measures: Measures = report["measures"]
    facts = report["facts"]
    engines = list(dict.fromkeys(m["engine"] for m in measures))
    sizes = sorted({m["users"] for m in measures if m["contender"] == "seatgate"})
    lines = ["## Figures", "", *_figures(measures, engines, sizes), ""]
    errors = [m for m in measures if m["errors"]]
    listed = ", ".join(
        f"{m['engine']} {m['contender']} {m['scenario']} ({m['users']} users): {m['errors']}"
        for m in errors
    )
    lines += [f"Errors (non-2xx/3xx answers, timeouts, socket errors): {listed or 'none'}.", ""]
    lines += ["## Targets", "", "| target | engine | measured | verdict |", "|---|---|---|---|"]
    if sizes:
        for engine in engines:
            lines += _targets(measures, facts, engine, sizes[0], sizes[-1])
    facts_json = json.dumps({"machine": report["machine"], **facts}, indent=2)
    lines += ["", "## Facts", "", "```json", facts_json, "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize(json.loads(Path(sys.argv[1]).read_text())))
