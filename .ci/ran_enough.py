"""Read a pytest JUnit XML report; exit 1 unless the run had no error or failure and ran at
least MINIMUM of the tests it collected (a skipped test did not run).

``python .ci/ran_enough.py REPORT.xml LABEL [MINIMUM]``; prints one line with the counts.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree


def main(report: str, label: str, minimum: float = 0.95) -> int:
    # The report is pytest's own, written a moment ago by this CI run.
    cases = list(ElementTree.parse(report).getroot().iter("testcase"))  # noqa: S314
    skipped = sum(1 for case in cases if case.find("skipped") is not None)
    broken = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in cases
        if case.find("error") is not None or case.find("failure") is not None
    ]
    ran = len(cases) - skipped
    share = ran / len(cases) if cases else 0.0
    print(
        f"ci: {label}: {len(cases)} collected, {ran} ran ({share:.1%}), {skipped} skipped, "
        f"{len(broken)} failed or errored"
    )
    if broken:
        print(f"ci: FAILED: {label}: {', '.join(broken)}", file=sys.stderr)
        return 1
    if share < minimum:
        print(f"ci: FAILED: {label}: under {minimum:.0%} of the tests ran", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], *(float(arg) for arg in sys.argv[3:4])))
