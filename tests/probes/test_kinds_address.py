"""address = {dev, ip, mac}: an interface of the node holds an address (the prefix length
too, when given) and/or has a MAC, as the kernel has it (`ip -j address` in the node)."""

from __future__ import annotations

import json
import subprocess

import pytest

from netlab.plan.model import Plan
from netlab.probes import check
from tests.probes.kindlab import expectations

pytestmark = pytest.mark.root


def test_addresses_and_macs(t4a: Plan) -> None:
    out = subprocess.run(["ip", "-n", t4a.node("pc1").netns, "-j", "link", "show", "eth0"],
                         capture_output=True, text=True, check=True).stdout
    mac = json.loads(out)[0]["address"]
    items = expectations(f"""
[[expect]]
from = "pc1"
address = {{ dev = "eth0", ip = "10.0.0.2/24" }}
[[expect]]
from = "pc1"
address = {{ dev = "eth0", ip = "10.0.0.2", mac = "{mac.upper()}" }}
[[expect]]
from = "gw"
address = {{ dev = "eth1", ip = "10.0.0.1" }}
reach = false
[[expect]]
from = "pc1"
address = {{ dev = "eth0", ip = "10.0.0.2/16" }}
[[expect]]
from = "pc1"
address = {{ dev = "eth0", mac = "02:00:00:00:00:99" }}
[[expect]]
from = "gw"
address = {{ dev = "eth1", ip = "10.0.0.1" }}
""")
    report = check(t4a, items)
    assert [r.passed for r in report] == [True, True, True, False, False, False], \
        [(r.title, r.seen) for r in report]
    seen = [r.seen for r in report]
    assert seen[0] == "eth0 has 10.0.0.2/24"
    assert seen[3] == "eth0 has 10.0.0.2/24"  # the length differs
    assert seen[4] == f"eth0 has 10.0.0.2/24, mac {mac}"
    assert seen[5] == "eth1 has 203.0.113.1/30"
    assert report[0].title == "[4] pc1 address eth0 10.0.0.2/24: held"
    assert report[2].title == "[6] gw address eth1 10.0.0.1: not held"
