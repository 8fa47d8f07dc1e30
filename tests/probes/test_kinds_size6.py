"""size + df over IPv6: an echo too big for a router's next link is refused with "packet
too big" naming that router and the MTU, one that fits gets through; the kernel's
`ping -6 -M do -s` is the witness of both (pc - r1 =1400= r2 - srv, IPv6 only on the path
that matters)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from netlab.plan.model import Plan
from netlab.probes import check
from tests.support.compile import plan as compile_plan
from tests.support.netns import netns_exec

pytestmark = pytest.mark.root

# r1 answers every too-big probe: its per-peer ICMPv6 rate limit (100 ms) is off, so the
# kernel's ping and check's probes in a row all hear from it.
LAB = """
[lab]
name = "{name}"
[defaults]
ipv6 = true
[nodes.pc]
[nodes.r1]
kind = "router"
sysctl = { "net.ipv6.icmp.ratelimit" = 0 }
[nodes.r2]
kind = "router"
[nodes.srv]
[[links]]
endpoints = ["pc", "r1"]
subnet = "10.83.1.0/24"
subnet6 = "fd00:83:1::/64"
[[links]]
endpoints = ["r1", "r2"]
subnet = "10.83.2.0/24"
subnet6 = "fd00:83:2::/64"
mtu = 1400
[[links]]
endpoints = ["r2", "srv"]
subnet = "10.83.3.0/24"
subnet6 = "fd00:83:3::/64"
"""

SIZES = """
[[expect]]
from = "pc"
to = "{srv}"
size = 1500
reach = false
[[expect]]
from = "pc"
to = "{srv}"
size = 1400
[[expect]]
from = "pc"
to = "{srv}"
size = 1500
"""

HEADERS6 = 40 + 8  # what `ping -s` does not count: IPv6 and ICMPv6 echo headers


@pytest.fixture(scope="module")
def lab6(deploy: Callable[[str], Plan]) -> Plan:
    return deploy(LAB)


def _address6(plan: Plan, node: str, prefix: str) -> str:
    return next(a.split("/")[0] for i in plan.node(node).interfaces for a in i.addresses
                if a.startswith(prefix))


def _kernel_ping(plan: Plan, size: int, dst: str) -> tuple[int, str]:
    r = netns_exec(plan.node("pc").netns, "ping", "-6", "-n", "-c1", "-W1", "-M", "do",
                   "-s", str(size - HEADERS6), dst)
    return r.returncode, r.stdout + r.stderr


def test_too_big_refused_by_the_narrower_hop_and_a_fitting_one_through(lab6: Plan) -> None:
    srv = _address6(lab6, "srv", "fd00:83:3:")
    r1 = _address6(lab6, "r1", "fd00:83:1:")
    # The path is up (DAD done, routes in) before anything is measured: small echoes.
    for _ in range(40):
        if _kernel_ping(lab6, 100, srv)[0] == 0:
            break
        time.sleep(0.25)
    # The witness: 1400 bytes with DF get through, 1500 are refused by r1, mtu 1400
    # ("Packet too big: mtu=1400" from r1, or a local error from the PMTU it taught pc).
    assert _kernel_ping(lab6, 1400, srv)[0] == 0
    code, out = _kernel_ping(lab6, 1500, srv)
    assert code != 0 and re.search(r"mtu[=:] ?1400", out), out

    exp = compile_plan(LAB.replace("{name}", "tsize6") + SIZES.replace("{srv}", srv)).expect
    report = check(lab6, exp)
    assert [r.passed for r in report] == [True, True, False], \
        [(r.title, r.seen) for r in report]
    refused = f"ICMP packet too big from r1 ({r1}), mtu 1400"
    assert report[0].seen == refused
    assert report[1].seen == f"echo reply from srv ({srv}), 1400 bytes with DF got through"
    assert report[2].seen == refused  # what a failing `reach = true` says
    assert report[0].title == f"[0] pc -> {srv} icmp size 1500 df: no reach"
