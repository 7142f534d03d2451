"""The report of one ``make bench`` run: every figure beside its peer's, and the targets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCENARIOS = {
    "get": "GET /Users/{id}",
    "filter": 'GET /Users?filter=userName eq "…"',
    "page": "GET /Users?startIndex=…&count=100",
    "post": "POST /Users (seat claim, ledger event, alert check)",
    "acs": "SAML ACS (signed response, unique ids)",
}
PEER = {
    "get": "scim2-server",
    "filter": "scim2-server",
    "page": "scim2-server",
    "post": "scim2-server",
    "acs": "python3-saml",
}


def _find(measures: list[dict[str, Any]], **wanted: Any) -> dict[str, Any] | None:
    for m in measures:
        if all(m.get(k) == v for k, v in wanted.items()):
            return m
    return None


def _check(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**not met**")


def summarize(report: dict[str, Any]) -> str:
    measures = report["measures"]
    facts = report["facts"]
    engines = list(dict.fromkeys(m["engine"] for m in measures))
    sizes = sorted({m["users"] for m in measures if m["contender"] == "seatgate"})
    lines = ["## Figures", ""]
    lines.append(
        "| engine | scenario | users | seatgate req/s | p50 ms | p99 ms | peer | peer req/s | ratio |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---|---:|---:|")
    for engine in engines:
        for scenario, title in SCENARIOS.items():
            for users in sizes:
                ours = _find(
                    measures, engine=engine, scenario=scenario, users=users, contender="seatgate"
                )
                if ours is None:
                    continue
                peer = _peer(measures, engine, scenario, users)
                ratio = f"{ours['rate'] / peer['rate']:.2f}×" if peer and peer["rate"] else "–"
                lines.append(
                    f"| {engine} | {title} | {users:,} | {ours['rate']:.0f} | {ours['p50_ms']:.1f}"
                    f" | {ours['p99_ms']:.1f} | {peer['contender'] + ' @ ' + format(peer['users'], ',') if peer else '–'}"
                    f" | {peer['rate']:.0f} | {ratio} |"
                    if peer
                    else f"| {engine} | {title} | {users:,} | {ours['rate']:.0f} | {ours['p50_ms']:.1f}"
                    f" | {ours['p99_ms']:.1f} | – | – | – |"
                )
            for m in measures:
                if (
                    m["engine"] == engine
                    and m["scenario"] == scenario
                    and m["contender"] not in {"seatgate"}
                ):
                    if m["errors"]:
                        lines.append(
                            f"| {engine} | {title} | | | | | {m['contender']} had {m['errors']} errors | | |"
                        )
    errors = [m for m in measures if m["errors"]]
    lines += ["", "Errors (non-2xx/3xx, timeouts, socket errors): "]
    lines.append(
        ", ".join(
            f"{m['engine']} {m['contender']} {m['scenario']} {m['users']}: {m['errors']}"
            for m in errors
        )
        or "none."
    )
    lines += ["", "## Targets", "", "| target | engine | measured | verdict |", "|---|---|---|---|"]
    small, large = (sizes[0], sizes[-1]) if sizes else (0, 0)
    for engine in engines:
        ours = _find(measures, engine=engine, scenario="get", users=small, contender="seatgate")
        scim2 = _find(measures, engine=engine, scenario="get", contender="scim2-server")
        flask = _find(measures, engine=engine, scenario="get", contender="flask-ceiling")
        if ours and scim2:
            ratio = ours["rate"] / scim2["rate"]
            lines.append(
                f"| GET /Users/{{id}} ≥ 1.0 × scim2-server | {engine} | {ratio:.2f}× | {_check(ratio >= 1.0)} |"
            )
        if ours and flask:
            ratio = ours["rate"] / flask["rate"]
            lines.append(
                f"| GET /Users/{{id}} ≥ 0.5 × bare Flask | {engine} | {ratio:.2f}× | {_check(ratio >= 0.5)} |"
            )
        big = _find(measures, engine=engine, scenario="filter", users=large, contender="seatgate")
        little = _find(
            measures, engine=engine, scenario="filter", users=small, contender="seatgate"
        )
        peer = _find(measures, engine=engine, scenario="filter", contender="scim2-server")
        if big and peer:
            ratio = big["rate"] / peer["rate"]
            lines.append(
                f"| filter at {large:,} ≥ 1.0 × scim2-server at {peer['users']:,} | {engine} | {ratio:.2f}× | {_check(ratio >= 1.0)} |"
            )
        if big and little and large != small:
            slower = little["rate"] / big["rate"]
            lines.append(
                f"| filter at {large:,} at most 1.2 × slower than at {small:,} | {engine} | {slower:.2f}× slower | {_check(slower <= 1.2)} |"
            )
        post = _find(measures, engine=engine, scenario="post", users=small, contender="seatgate")
        peer = _find(measures, engine=engine, scenario="post", contender="scim2-server")
        if post and peer:
            ratio = post["rate"] / peer["rate"]
            verdict = (
                _check(ratio >= 0.8) if engine == "postgresql" else "(target is for PostgreSQL)"
            )
            lines.append(
                f"| POST /Users ≥ 0.8 × scim2-server | {engine} | {ratio:.2f}× | {verdict} |"
            )
        for users in sizes:
            acs = _find(measures, engine=engine, scenario="acs", users=users, contender="seatgate")
            stock = _find(
                measures, engine=engine, scenario="acs", users=users, contender="python3-saml"
            )
            if acs and stock:
                ratio = acs["rate"] / stock["rate"]
                lines.append(
                    f"| ACS ≥ 1.5 × stock process_response ({users:,} users, same process count) | {engine} | {ratio:.2f}× | {_check(ratio >= 1.5)} |"
                )
        sync = facts.get(f"{engine}_initial_sync")
        if sync:
            ok = sync["seconds"] < 60 and not sync["failures"]
            lines.append(
                f"| initial sync: {sync['users']:,} users, 8 clients, < 60 s | {engine} | {sync['seconds']} s, {sync['failures']} failures | {_check(ok)} |"
            )
        rss = facts.get(f"{engine}_rss_mb_per_worker_{large}")
        if rss:
            lines.append(
                f"| RSS per worker < 150 MB at {large:,} users | {engine} | {max(rss):.0f} MB (max of {len(rss)}) | {_check(max(rss) < 150)} |"
            )
    lines += [
        "",
        "## Facts",
        "",
        "```json",
        json.dumps({"machine": report["machine"], **facts}, indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def _peer(
    measures: list[dict[str, Any]], engine: str, scenario: str, users: int
) -> dict[str, Any] | None:
    name = PEER[scenario]
    if scenario == "acs":
        return _find(measures, engine=engine, scenario=scenario, users=users, contender=name)
    return _find(measures, engine=engine, scenario=scenario, contender=name)


if __name__ == "__main__":
    print(summarize(json.loads(Path(sys.argv[1]).read_text())))
