"""Address allocation: deterministic, explicit first, routers first, pools, IPv6."""

from __future__ import annotations

import random

from tests.support import REPO
from tests.support.compile import addrs, plan, problems

LAN = """
[lab]
name = "t2addr"
[nodes.zed]
[nodes.alpha]
[nodes.r2]
kind = "router"
[nodes.r1]
kind = "router"
[switches.lan]
subnet = "10.0.0.0/24"
[[links]]
endpoints = ["zed", "lan"]
[[links]]
endpoints = ["alpha", "lan"]
[[links]]
endpoints = ["r2", "lan"]
[[links]]
endpoints = ["r1", "lan"]
"""


def test_routers_first_then_hosts_sorted_by_name() -> None:
    a = addrs(plan(LAN))
    assert a == {"r1:eth0": ["10.0.0.1/24"], "r2:eth0": ["10.0.0.2/24"],
                 "alpha:eth0": ["10.0.0.3/24"], "zed:eth0": ["10.0.0.4/24"]}


def test_allocation_does_not_depend_on_link_order() -> None:
    head, *links = LAN.split("[[links]]")
    expected = addrs(plan(LAN))
    rng = random.Random(2)
    for _ in range(5):
        rng.shuffle(links)
        assert addrs(plan(head + "".join("[[links]]" + x for x in links))) == expected


def test_same_input_same_output() -> None:
    """Also across processes: in one process, two compiles share the hash seed, so a
    result that hangs on set or dict-of-set order would still look stable here."""
    import os
    import subprocess
    import sys

    code = ("import sys; from tests.support.compile import plan; "
            "sys.stdout.write(plan(sys.stdin.read()).to_json())")
    outs = {subprocess.run([sys.executable, "-c", code], input=LAN, capture_output=True,
                           text=True, check=True, cwd=REPO,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout
            for seed in ("1", "2", "3")}
    assert outs == {plan(LAN).to_json()}


def test_explicit_addresses_win_and_are_not_handed_out_again() -> None:
    text = LAN.replace('endpoints = ["zed", "lan"]',
                       'endpoints = ["zed", "lan"]\naddresses = ["10.0.0.1"]')
    text = text.replace('endpoints = ["alpha", "lan"]',
                        'endpoints = ["alpha", "lan"]\naddresses = ["10.0.0.3/24"]')
    a = addrs(plan(text))
    assert a["zed:eth0"] == ["10.0.0.1/24"]  # a bare address takes the switch's /24
    assert a["alpha:eth0"] == ["10.0.0.3/24"]
    assert a["r1:eth0"] == ["10.0.0.2/24"]  # .1 and .3 are skipped
    assert a["r2:eth0"] == ["10.0.0.4/24"]
    assert len({x for v in a.values() for x in v}) == 4


def test_subnet_inferred_from_explicit_prefix() -> None:
    p = plan("""
        [lab]
        name = "t2infer"
        [nodes.a]
        [nodes.b]
        [switches.lan]
        [[links]]
        endpoints = ["a", "lan"]
        addresses = ["172.16.5.9/28"]
        [[links]]
        endpoints = ["b", "lan"]
    """)
    assert p.switches[0].subnet == "172.16.5.0/28"
    assert addrs(p) == {"a:eth0": ["172.16.5.9/28"], "b:eth0": ["172.16.5.1/28"]}


def test_pools_switches_first_then_links_in_file_order_skipping_explicit() -> None:
    p = plan("""
        [lab]
        name = "t2pools"
        [pools]
        lan = "10.1.0.0/16"
        p2p = "10.2.0.0/24"
        [nodes.r1]
        kind = "router"
        [nodes.r2]
        kind = "router"
        [nodes.r3]
        kind = "router"
        [switches.s1]
        [switches.s2]
        subnet = "10.1.1.0/24"
        [switches.s3]
        [[links]]
        endpoints = ["r2", "r3"]
        [[links]]
        endpoints = ["r1", "s3"]
        [[links]]
        endpoints = ["r1", "r2"]
        subnet = "10.2.0.4/30"
        [[links]]
        endpoints = ["r2", "s1"]
        [[links]]
        endpoints = ["r3", "s2"]
        [[links]]
        endpoints = ["r3", "r1"]
    """)
    subnets = {s.name: s.subnet for s in p.switches}
    # s1 first, s2 explicit (10.1.1.0/24 skipped by the pool), then s3.
    assert subnets == {"s1": "10.1.0.0/24", "s2": "10.1.1.0/24", "s3": "10.1.2.0/24"}
    a = addrs(p)
    assert a["r2:eth0"] == ["10.2.0.1/30"]  # links[0]: first /30, first endpoint first
    assert a["r3:eth0"] == ["10.2.0.2/30"]
    assert a["r1:eth1"] == ["10.2.0.5/30"]  # links[2]: explicit subnet
    assert a["r3:eth2"] == ["10.2.0.9/30"]  # links[5]: next free /30 after the explicit one
    assert a["r1:eth2"] == ["10.2.0.10/30"]


def test_first_endpoint_gets_first_address_on_p2p() -> None:
    p = plan("""
        [lab]
        name = "t2p2p"
        [nodes.host]
        [nodes.gw]
        kind = "router"
        [[links]]
        endpoints = ["host", "gw"]
    """)
    assert addrs(p) == {"host:eth0": ["10.255.0.1/30"], "gw:eth0": ["10.255.0.2/30"]}


def test_pool_exhausted() -> None:
    ps = problems("""
        [lab]
        name = "t2exh"
        [pools]
        p2p = "10.9.0.0/29"
        [nodes.a]
        [nodes.b]
        [nodes.c]
        [[links]]
        endpoints = ["a", "b"]
        [[links]]
        endpoints = ["b", "c"]
        [[links]]
        endpoints = ["c", "a"]
    """)
    assert [(p.path, p.message) for p in ps] == [
        ("pools.p2p", "pool 10.9.0.0/29 has no free /30 left for the link links[2] (c and a)")]


def test_subnet_exhausted() -> None:
    ps = problems("""
        [lab]
        name = "t2full"
        [nodes.a]
        [nodes.b]
        [nodes.c]
        [switches.s]
        subnet = "10.0.0.0/30"
        [[links]]
        endpoints = ["a", "s"]
        [[links]]
        endpoints = ["b", "s"]
        [[links]]
        endpoints = ["c", "s"]
    """)
    assert [p.path for p in ps] == ["switches.s.subnet"]
    assert "c:eth0" in ps[0].message


def test_duplicate_explicit_address() -> None:
    ps = problems(LAN.replace('endpoints = ["zed", "lan"]',
                              'endpoints = ["zed", "lan"]\naddresses = ["10.0.0.9"]')
                  .replace('endpoints = ["r1", "lan"]',
                           'endpoints = ["r1", "lan"]\naddresses = ["10.0.0.9"]'))
    assert [(p.path, p.message) for p in ps if p.severity == "error"] == [
        ("links[3].addresses[0]", "address 10.0.0.9 is already used by zed:eth0")]


V6 = """
[lab]
name = "t2v6"
[defaults]
ipv6 = true
[nodes.h]
[nodes.r]
kind = "router"
[nodes.v4only]
ipv6 = false
[switches.lan]
[[links]]
endpoints = ["h", "lan"]
[[links]]
endpoints = ["r", "lan"]
[[links]]
endpoints = ["v4only", "lan"]
[[links]]
endpoints = ["r", "h"]
"""


def test_v6_allocation() -> None:
    p = plan(V6)
    assert p.switches[0].subnet6 == "fd00:10::/64"
    a = addrs(p)
    assert a["r:eth0"] == ["10.10.0.1/24", "fd00:10::1/64"]
    assert a["h:eth0"] == ["10.10.0.2/24", "fd00:10::2/64"]
    assert a["v4only:eth0"] == ["10.10.0.3/24"]
    assert a["r:eth1"] == ["10.255.0.1/30", "fd00:255::1/64"]
    assert a["h:eth1"] == ["10.255.0.2/30", "fd00:255::2/64"]
    assert "net.ipv6.conf.all.disable_ipv6" in p.node("v4only").sysctls
    assert p.node("r").sysctls["net.ipv6.conf.all.forwarding"] == "1"


def test_v6_off_by_default_but_explicit_v6_address_is_used() -> None:
    p = plan("""
        [lab]
        name = "t2v6x"
        [nodes.a]
        [nodes.b]
        [[links]]
        endpoints = ["a", "b"]
        addresses = [["10.0.0.1/30", "fd00:77::1/64"], "10.0.0.2/30"]
    """)
    a = addrs(p)
    assert a == {"a:eth0": ["10.0.0.1/30", "fd00:77::1/64"], "b:eth0": ["10.0.0.2/30"]}


def test_explicit_subnet6() -> None:
    p = plan(V6.replace("[switches.lan]", '[switches.lan]\nsubnet6 = "fd00:abcd::/64"'))
    assert addrs(p)["h:eth0"] == ["10.10.0.2/24", "fd00:abcd::2/64"]
