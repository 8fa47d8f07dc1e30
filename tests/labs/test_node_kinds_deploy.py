"""A node kind's processes reach the running lab (root): the worked example of
tests/compile/test_kinds.py, "a router with a loopback", deployed; the kernel's own `ip`
and `ping` witness the loopback address and the forwarding."""

from __future__ import annotations

import time

import pytest

from netlab.compile import kinds
from tests.compile.test_kinds import LOROUTER
from tests.support.deploy import Labs
from tests.support.netns import kernel_ping, netns_exec

LAB = """
[lab]
name = "{name}"
[nodes.h]
[nodes.r1]
kind = "lorouter"
[switches.lan]
subnet = "10.9.0.0/24"
[[links]]
endpoints = ["h", "lan"]
[[links]]
endpoints = ["r1", "lan"]
[[links]]
endpoints = ["r1", "h2"]
[nodes.h2]
"""


def test_a_router_with_a_loopback_deploys(labs: Labs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(kinds.KINDS, LOROUTER.name, LOROUTER)
    plan = labs.lab(LAB)
    r1, h = plan.node("r1"), plan.node("h")
    deadline = time.monotonic() + 10
    while "10.255.0.1/32" not in (out := netns_exec(r1.netns, "ip", "-o", "addr", "show",
                                                    "lo").stdout):
        assert time.monotonic() < deadline, f"no loopback address on r1: {out}"
        time.sleep(0.1)
    # h's default route is r1, which owns the address on lo: the kernel answers for it.
    assert kernel_ping(h.netns, "10.255.0.1")
    # And forwards between its links, as its kind says.
    assert kernel_ping(h.netns, plan.node("h2").interfaces[0].addresses[0].split("/")[0])
