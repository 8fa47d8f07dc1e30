"""route = {to, via, dev}: a route in the node's main table, read from the kernel (by the
kernel's own `ip -j route` run in the node through the backend)."""

from __future__ import annotations

import subprocess

import pytest

from netlab.plan.model import Plan
from netlab.probes import check
from tests.probes.kindlab import expectations

pytestmark = pytest.mark.root

ROUTES = """
[[expect]]
from = "gw"
route = { to = "198.51.100.0/30", via = "203.0.113.2", dev = "eth1" }
[[expect]]
from = "pc1"
route = { to = "default", via = "10.0.0.1" }
[[expect]]
from = "pc1"
route = { to = "0.0.0.0/0", dev = "eth0" }
[[expect]]
from = "pc1"
route = { to = "10.9.0.0/16" }
reach = false
[[expect]]
from = "pc1"
route = { to = "10.9.0.0/16" }
[[expect]]
from = "gw"
route = { to = "198.51.100.0/30", via = "203.0.113.9" }
[[expect]]
from = "pc1"
route = { to = "default", via = "10.0.0.1" }
reach = false
"""


def test_routes_present_absent_and_wrong_next_hop(t4a: Plan) -> None:
    report = check(t4a, expectations(ROUTES))
    assert [r.passed for r in report] == [True, True, True, True, False, False, False], \
        [(r.title, r.seen) for r in report]
    seen = [r.seen for r in report]
    assert seen[0] == "198.51.100.0/30 via 203.0.113.2 dev eth1"
    assert seen[1] == "default via 10.0.0.1 dev eth0"
    assert seen[4].startswith("no route to 10.9.0.0/16 (has: default via 10.0.0.1 dev eth0,")
    assert seen[5] == "198.51.100.0/30 via 203.0.113.2 dev eth1, not via 203.0.113.9"
    assert report[0].title == "[4] gw route 198.51.100.0/30 via 203.0.113.2 dev eth1: present"
    assert report[3].title == "[7] pc1 route 10.9.0.0/16: absent"


def test_a_route_added_by_hand_is_seen(t4a: Plan) -> None:
    """The kernel's table, not the plan's: a route added with `ip` after deploy counts."""
    pc1 = t4a.node("pc1").netns
    subprocess.run(["ip", "-n", pc1, "route", "add", "10.9.0.0/16", "via", "10.0.0.3"],
                   check=True)
    try:
        r = check(t4a, expectations(ROUTES)[4:5])[0]
        assert r.passed and r.seen == "10.9.0.0/16 via 10.0.0.3 dev eth0", r.seen
    finally:
        subprocess.run(["ip", "-n", pc1, "route", "del", "10.9.0.0/16"], check=True)
