"""path = {nodes, exact, hops}: the nodes a traceroute from the node to the target
crosses, in order (exactly, or at least those), and the hop count."""

from __future__ import annotations

import pytest

from netlab.plan.model import Plan
from netlab.probes import check
from tests.probes.kindlab import expectations

pytestmark = pytest.mark.root

PATHS = """
[[expect]]
from = "pc1"
to = "web"
path = { nodes = ["gw"], hops = 2 }
[[expect]]
from = "pc1"
to = "web"
path = { nodes = ["gw"], exact = false }
[[expect]]
from = "pc1"
to = "web"
path = { nodes = ["pc2", "gw"] }
[[expect]]
from = "pc1"
to = "web"
path = { hops = 1 }
[[expect]]
from = "pc1"
to = "far"
path = { nodes = ["gw", "web"] }
"""


def test_paths_taken_and_not(t4a: Plan) -> None:
    report = check(t4a, expectations(PATHS))
    assert [r.passed for r in report] == [True, True, False, False, False], \
        [(r.title, r.seen) for r in report]
    seen = [r.seen for r in report]
    assert seen[0].endswith("; path gw > web (2 hops)"), seen[0]  # after the ping's
    assert seen[2].endswith("; path gw > web (2 hops)")
    assert seen[4].endswith(": far not reached (net unreachable)"), seen[4]
    assert report[0].title == "[4] pc1 -> web (203.0.113.2) icmp path through gw, 2 hops: reach"
