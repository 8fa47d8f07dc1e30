"""neighbor = {ip, mac, dev}: a resolved ARP/NDP entry in the node, as the kernel has it
(`ip -j neigh` in the node): present after traffic, with the neighbour's own MAC."""

from __future__ import annotations

import json
import subprocess

import pytest

from netlab.plan.model import Plan
from netlab.probes import check
from tests.probes.kindlab import expectations

pytestmark = pytest.mark.root


def test_neighbour_entries(t4a: Plan) -> None:
    pc1, pc2 = t4a.node("pc1").netns, t4a.node("pc2").netns
    subprocess.run(["ip", "netns", "exec", pc1, "ping", "-c1", "-W1", "10.0.0.3"],
                   capture_output=True, check=True)  # pc1 resolves pc2
    out = subprocess.run(["ip", "-n", pc2, "-j", "link", "show", "eth0"],
                         capture_output=True, text=True, check=True).stdout
    mac = json.loads(out)[0]["address"]
    report = check(t4a, expectations(f"""
[[expect]]
from = "pc1"
neighbor = {{ ip = "10.0.0.3", mac = "{mac}", dev = "eth0" }}
[[expect]]
from = "pc1"
neighbor = {{ ip = "10.0.0.77" }}
reach = false
[[expect]]
from = "pc1"
neighbor = {{ ip = "10.0.0.77" }}
[[expect]]
from = "pc1"
neighbor = {{ ip = "10.0.0.3", mac = "02:00:00:00:00:99" }}
"""))
    assert [r.passed for r in report] == [True, True, False, False], \
        [(r.title, r.seen) for r in report]
    seen = [r.seen for r in report]
    assert seen[0].startswith(f"10.0.0.3 dev eth0 lladdr {mac} ")
    assert seen[2] == "no neighbour entry for 10.0.0.77"
    assert seen[3].startswith(f"10.0.0.3 dev eth0 lladdr {mac} ")  # not 02:...:99
    assert report[0].title == f"[4] pc1 neighbor 10.0.0.3 lladdr {mac} dev eth0: resolved"
