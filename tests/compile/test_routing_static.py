"""Hand-written routes: one route per destination (issue 14 item 4), and no follow-on
errors about segments whose subnet is already an error (item 10)."""

from __future__ import annotations

import pytest

from tests.support.compile import plan, problems, routes

LAB = """
[lab]
name = "t9routes"
[nodes.r1]
kind = "router"
[nodes.r2]
kind = "router"
[nodes.h]
[switches.lan]
subnet = "10.0.0.0/24"
[[links]]
endpoints = ["r1", "lan"]
[[links]]
endpoints = ["r2", "lan"]
[[links]]
endpoints = ["h", "lan"]
"""


def _with(routes_text: str) -> str:
    return LAB.replace("[nodes.h]", f"[nodes.h]\ngateway = \"r1\"\nroutes = [{routes_text}]")


@pytest.mark.parametrize("second", ['{ to = "10.9.0.0/24", via = "10.0.0.2" }',
                                    '{ to = "10.9.0.0/24", via = "10.0.0.1" }',
                                    '{ to = "10.9.0.0/24", dev = "eth0" }'])
def test_two_routes_to_one_destination_are_an_error_naming_both(second: str) -> None:
    found = problems(_with(f'{{ to = "10.9.0.0/24", via = "10.0.0.1" }}, {second}'))
    (p,) = [p for p in found if p.severity == "error"]
    assert p.path == "nodes.h.routes[1]"
    assert "10.9.0.0/24" in p.message and "nodes.h.routes[0]" in p.message
    assert "multipath" in p.message  # says why: no ECMP
    assert "nodes.h.routes[0]" in p.fix and "nodes.h.routes[1]" in p.fix


def test_default_and_zero_prefix_are_one_destination() -> None:
    found = problems(_with('{ to = "default", via = "10.0.0.2" }, '
                           '{ to = "0.0.0.0/0", via = "10.0.0.1" }'))
    (p,) = found
    assert p.path == "nodes.h.routes[1]" and "default (IPv4)" in p.message


def test_one_route_per_destination_and_family_is_fine() -> None:
    p = plan(_with('{ to = "10.9.0.0/24", via = "10.0.0.2" }, '
                   '{ to = "10.8.0.0/24", via = "10.0.0.2" }, '
                   '{ to = "default", via = "10.0.0.2" }'))
    assert routes(p, "h") == {("10.9.0.0/24", "10.0.0.2", "eth0", "static"),
                              ("10.8.0.0/24", "10.0.0.2", "eth0", "static"),
                              ("default", "10.0.0.2", "eth0", "static")}


STARVED = """
[lab]
name = "t9starve"
[pools]
lan = "10.10.0.0/24"
[nodes.r1]
kind = "router"
[nodes.a]
[nodes.b]
gateway = "r1"
[nodes.c]
gateway = "10.99.0.1"
routes = [{ to = "10.20.0.0/24", via = "10.99.0.1" }]
[switches.s1]
[switches.s2]
[[links]]
endpoints = ["r1", "s1"]
[[links]]
endpoints = ["a", "s1"]
[[links]]
endpoints = ["r1", "s2"]
[[links]]
endpoints = ["b", "s2"]
[[links]]
endpoints = ["c", "s2"]
"""


def test_no_gateway_or_next_hop_errors_after_a_pool_error() -> None:
    found = problems(STARVED)
    assert [p.path for p in found if p.severity == "error"] == ["pools.lan"]


def test_gateway_errors_remain_where_no_subnet_is_missing() -> None:
    text = STARVED.replace('lan = "10.10.0.0/24"', 'lan = "10.10.0.0/23"')
    paths = sorted(p.path for p in problems(text) if p.severity == "error")
    assert paths == ["nodes.c.gateway", "nodes.c.routes[0].via"]
