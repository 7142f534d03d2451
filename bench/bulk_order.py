"""One SCIM Bulk request of bulkId-chained users, timed in each order of its operations.

``python -m bench.bulk_order [--operations 1000] [--repeat 3] [--postgres URL] 2>/dev/null``

The operations are always the same chain: each user's manager is the next user, named by
its ``bulkId`` (``"bulkId:u1"`` in user 0, and so on), about 960 bytes each as an IdP sends
them. *forward* lists them so that every reference names an operation already run, *reverse*
so that every reference names a later one (the order that once took 30 s for 1000
operations), *shuffled* at random. Each order creates fresh users in the same organization
and is timed through Flask's test client (no HTTP: only seatgate's own work, which is what
the order can change), in wall time and in CPU time of the process (steadier on a shared
machine; PostgreSQL's own work is not in it). Orders are interleaved, after one warm-up
round. Prints the median per order and its ratio to forward; issue 19 asks for every order
within 1.5x forward.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ORDERS = ("forward", "reverse", "shuffled")


def manager_chain(count: int, domain: str, order: str, *, seed: int = 19) -> list[dict[str, Any]]:
    """``count`` user creations, user ``i``'s manager being user ``i + 1`` (by bulkId), in
    ``order``: ``forward`` (every reference to an earlier operation), ``reverse`` (every
    reference to a later one) or ``shuffled``."""
    operations = [_create_user(i, count, domain) for i in range(count)]
    if order == "forward":
        return operations[::-1]
    if order == "shuffled":
        random.Random(seed).shuffle(operations)  # noqa: S311 - an order, not a secret
        return operations
    if order != "reverse":
        raise ValueError(f"unknown order {order!r}")
    return operations


def _create_user(i: int, count: int, domain: str) -> dict[str, Any]:
    address = f"chain{i:05d}@{domain}"
    enterprise: dict[str, Any] = {
        "employeeNumber": f"E{i:07d}",
        "costCenter": "CC-4711",
        "organization": "Example Holdings",
        "division": "Platform Engineering",
        "department": "Identity and Access",
    }
    if i + 1 < count:
        enterprise["manager"] = {"value": f"bulkId:u{i + 1}"}
    return {
        "method": "POST",
        "path": "/Users",
        "bulkId": f"u{i}",
        "data": {
            "schemas": [CORE_USER, ENTERPRISE_USER],
            "userName": address,
            "externalId": f"00u{i:017d}",
            "name": {
                "givenName": f"Given{i}",
                "familyName": f"Family{i}",
            },
            "displayName": f"Given{i} Family{i}",
            "title": "Directory Engineer",
            "emails": [
                {"value": address, "type": "work", "primary": True},
                {"value": f"chain{i:05d}.home@{domain}", "type": "home"},
            ],
            "addresses": [
                {
                    "type": "work",
                    "streetAddress": f"{i} Provisioning Boulevard",
                    "locality": "Springfield",
                    "region": "Oregon",
                    "postalCode": "97477",
                    "country": "US",
                }
            ],
            "active": True,
            ENTERPRISE_USER: enterprise,
        },
    }


def bulk_body(operations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [BULK_REQUEST], "Operations": operations}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk_order")
    parser.add_argument("--operations", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="requests per order (median)")
    parser.add_argument(
        "--postgres", help="a PostgreSQL server URL (default: a new SQLite file)", default=None
    )
    args = parser.parse_args()
    from bench.in_process import loaded_seatgate
    from bench.run import fresh_database

    with tempfile.TemporaryDirectory() as tmp:
        url = (
            fresh_database("postgresql", Path(tmp), args.postgres, name="seatgate_bench_bulk")
            if args.postgres
            else None
        )
        with loaded_seatgate(url, 0, log_level="WARNING") as loaded:
            client = loaded.app.test_client()
            headers = {**loaded.headers, "Content-Type": "application/scim+json"}
            wall: dict[str, list[float]] = {order: [] for order in ORDERS}
            cpu: dict[str, list[float]] = {order: [] for order in ORDERS}
            rounds = [(r, order) for r in range(args.repeat + 1) for order in ORDERS]
            for number, order in rounds:  # round 0 warms up; orders interleave
                body = json.dumps(
                    bulk_body(manager_chain(args.operations, f"r{number}{order}.example", order))
                )
                started, cpu_started = time.perf_counter(), time.process_time()
                reply = client.post("/scim/v2/Bulk", data=body, headers=headers)
                spent, cpu_spent = time.perf_counter() - started, time.process_time() - cpu_started
                results = reply.get_json().get("Operations", [])
                if reply.status_code != 200 or {r["status"] for r in results} != {"201"}:
                    raise RuntimeError(f"{order}: {reply.status_code} {reply.get_data()[:300]!r}")
                if number:
                    wall[order].append(spent)
                    cpu[order].append(cpu_spent)
    engine = "PostgreSQL" if args.postgres else "SQLite"
    size = len(json.dumps(bulk_body(manager_chain(args.operations, "x.example", "forward"))))
    print(f"{engine}, {args.operations} operations, {size / 1024:.0f} KiB, median of {args.repeat}")
    forward_wall, forward_cpu = (
        statistics.median(wall["forward"]),
        statistics.median(cpu["forward"]),
    )
    for order in ORDERS:
        median_wall, median_cpu = statistics.median(wall[order]), statistics.median(cpu[order])
        print(
            f"  {order:9s} {median_wall:7.2f} s wall ({median_wall / forward_wall:4.2f}x forward)"
            f"  {median_cpu:7.2f} s CPU ({median_cpu / forward_cpu:4.2f}x forward)"
        )


if __name__ == "__main__":
    main()
