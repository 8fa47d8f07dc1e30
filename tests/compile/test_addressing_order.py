"""Address allocation by name in natural order, empty address entries, and a pool that a
subnet given in the file fills (issue 14 items 6 and 10)."""

from __future__ import annotations

import random

from netlab.compile.addressing import natural
from tests.support.compile import addrs, plan, problems


def _star(names: list[str]) -> str:
    text = '[lab]\nname = "t9star"\n[nodes.gw]\nkind = "router"\n[switches.lan]\n' \
           'subnet = "10.0.0.0/24"\n[[links]]\nendpoints = ["gw", "lan"]\n'
    for name in names:
        text += f'[nodes.{name}]\n[[links]]\nendpoints = ["{name}", "lan"]\n'
    return text


def test_hosts_are_numbered_in_natural_order_h2_before_h10() -> None:
    names = [f"h{k}" for k in range(1, 25)]
    shuffled = names[:]
    random.Random(14).shuffle(shuffled)
    a = addrs(plan(_star(shuffled)))
    assert a["gw:eth0"] == ["10.0.0.1/24"]  # routers first, as before
    # h1 .2, h2 .3, ..., h10 .11: as text, h10 would come right after h1.
    assert [a[f"{n}:eth0"][0] for n in names] == [f"10.0.0.{k + 1}/24" for k in range(1, 25)]


def test_interfaces_of_one_node_are_in_natural_order_too() -> None:
    text = '[lab]\nname = "t9if"\n[nodes.a]\n[switches.lan]\nsubnet = "10.0.0.0/24"\n'
    for k in (10, 2, 1):
        text += f'[[links]]\nendpoints = ["a:eth{k}", "lan"]\n'
    a = addrs(plan(text))
    assert (a["a:eth1"], a["a:eth2"], a["a:eth10"]) == (
        ["10.0.0.1/24"], ["10.0.0.2/24"], ["10.0.0.3/24"])


def test_natural_key() -> None:
    words = ["h10", "h2", "h1", "a", "h01", "b2c10", "b2c9", "10", "9", "h"]
    assert sorted(words, key=natural) == ["9", "10", "a", "b2c9", "b2c10", "h", "h01", "h1",
                                          "h2", "h10"]


TWO = '[lab]\nname = "t9empty"\n[nodes.a]\n[nodes.b]\n[switches.lan]\n'


BIG = """
[lab]
name = "t9pool"
[nodes.r1]
kind = "router"
[nodes.a]
[nodes.b]
gateway = "r1"
[switches.big]
subnet = "10.0.0.0/8"
[switches.s2]
[switches.s3]
[[links]]
endpoints = ["r1", "big"]
[[links]]
endpoints = ["a", "big"]
[[links]]
endpoints = ["r1", "s2"]
[[links]]
endpoints = ["b", "s2"]
[[links]]
endpoints = ["b", "s3"]
"""


def test_a_pool_filled_by_a_given_subnet_names_it_once_without_follow_on_errors() -> None:
    found = problems(BIG)
    # One error: not one per switch, and not "gateway r1 shares no segment with b".
    assert [(p.path, p.severity) for p in found] == [("pools.lan", "error")]
    (p,) = found
    assert "pool 10.10.0.0/16 has no free /24 left for switch 's2' and switch 's3'" in p.message
    assert "inside 10.0.0.0/8 (switches.big.subnet)" in p.message
    assert "switches.big.subnet" in p.fix and "pools.lan" in p.fix


def test_given_subnets_taking_part_of_a_pool_are_named() -> None:
    text = BIG.replace('subnet = "10.0.0.0/8"', 'subnet = "10.10.0.0/17"')
    text = text.replace('[switches.s2]', '[switches.s2]\n[switches.m]\nsubnet = "10.10.128.0/17"')
    text += '[[links]]\nendpoints = ["a", "m"]\n'
    (p,) = problems(text)
    assert p.path == "pools.lan"
    assert "10.10.0.0/17 (switches.big.subnet), 10.10.128.0/17 (switches.m.subnet)" in p.message


def test_a_pool_that_is_simply_too_small_keeps_its_message() -> None:
    text = BIG.replace('subnet = "10.0.0.0/8"', 'subnet = "10.1.0.0/24"').replace(
        "[lab]", '[pools]\nlan = "10.10.0.0/24"\n[lab]', 1)
    (p,) = problems(text)
    assert p.message == "pool 10.10.0.0/24 has no free /24 left for switch 's3'"
    assert p.fix == "use a larger pools.lan, or set switches.s3.subnet"


def test_a_lab_without_nodes_is_an_error() -> None:
    (p,) = problems('[lab]\nname = "t9none"\n')
    assert (p.path, p.message) == ("nodes", "the lab has no nodes")
    assert "[nodes." in p.fix


def test_a_pool_error_about_many_segments_stays_one_readable_line() -> None:
    text = '[lab]\nname = "t9many"\n[pools]\nlan = "10.10.0.0/24"\n[nodes.a]\n'
    for k in range(11):
        text += f'[switches.s{k}]\n[[links]]\nendpoints = ["a:eth{k}", "s{k}"]\n'
    (p,) = problems(text)
    assert p.message == ("pool 10.10.0.0/24 has no free /24 left for switch 's1', switch 's2',"
                         " switch 's3', switch 's4' and 6 more")
    assert p.fix.endswith("or set switches.s1.subnet, switches.s2.subnet, switches.s3.subnet,"
                          " switches.s4.subnet or 6 more")
