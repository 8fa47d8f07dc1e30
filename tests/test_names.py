"""Name rules: names become netns, file and interface names."""

from __future__ import annotations

import pytest

from netlab.errors import UsageError
from netlab.names import (
    check_lab_name,
    ifname_problem,
    lab_name_problem,
    netns_name_problem,
    node_name_problem,
    sysctl_key_problem,
)
from tests.support.compile import plan, problems


@pytest.mark.parametrize("name", ["pc1", "gw", "a", "lan-2", "r" * 15])
def test_good_node_names(name: str) -> None:
    assert node_name_problem(name) is None


@pytest.mark.parametrize("name,why", [
    ("", "empty"), ("a/b", "'/'"), ("..", "'.'"), ("x y", "spaces"), ("a;b", "';'"),
    ("a$b", "'$'"), ("a`b", "'`'"), ("Pc", "capital letters"), ("1pc", "start with a letter"),
    ("pc-", "ends with '-'"), ("r" * 16, "16 characters"), ("a_b", "'_'"),
])
def test_bad_node_names(name: str, why: str) -> None:
    problem = node_name_problem(name)
    assert problem is not None and why in problem


def test_lab_names() -> None:
    assert lab_name_problem("natgw") is None
    assert "13 characters" in (lab_name_problem("a" * 13) or "")
    assert lab_name_problem("../x") is not None


def test_ifnames() -> None:
    assert ifname_problem("eth0") is None
    assert ifname_problem("wan_1") is None
    assert "16 characters" in (ifname_problem("e" * 16) or "")
    assert "reserved" in (ifname_problem("lo") or "")
    assert ifname_problem("eth0:1") is not None
    assert ifname_problem("e/1") is not None


# Names are matched whole: `re.match` with `$` let a trailing newline through, giving
# namespaces and hostnames ending in "\n" and a broken /etc/hosts in every node.
@pytest.mark.parametrize("problem", [lab_name_problem, node_name_problem, netns_name_problem,
                                     ifname_problem])
@pytest.mark.parametrize("name", ["abc\n", "abc\r", "a\nb", "abc\x00", "\nabc", "abc\t",
                                  ".", "..", "a/b", "/x"])
def test_every_name_kind_is_matched_whole(problem, name: str) -> None:  # type: ignore[no-untyped-def]
    assert problem("abc") is None
    assert problem(name) is not None, repr(name)


def test_newline_is_named_in_the_message() -> None:
    assert "'\\n'" in (lab_name_problem("abc\n") or "")


@pytest.mark.parametrize("value", [None, 3, ["a"], b"abc"])
def test_non_strings_are_refused_not_crashed_on(value: object) -> None:
    for problem in (lab_name_problem, node_name_problem, netns_name_problem, ifname_problem,
                    sysctl_key_problem):
        assert problem(value) is not None


def test_netns_names_are_prefix_dash_node() -> None:
    assert netns_name_problem("natgw-pc1") is None
    assert netns_name_problem("a" * 12 + "-" + "b" * 15) is None  # longest prefix and node
    assert netns_name_problem("a" * 29) is not None
    assert netns_name_problem("../../x") is not None


def test_sysctl_keys() -> None:
    assert sysctl_key_problem("net.ipv4.ip_forward") is None
    assert sysctl_key_problem("net.ipv4.conf.all.accept_redirects") is None
    for bad in ("net.ipv4.ip_forward\n", "net..x", "net./x", "kernel.panic", "net", "net.a/b"):
        assert sysctl_key_problem(bad) is not None, bad


@pytest.mark.parametrize("name", ["..", ".", "/x", "a/b", "abc\n", "a\x00b", "", "Lab",
                                  "a" * 13])
def test_check_lab_name_is_a_usage_error_saying_what_a_name_looks_like(name: str) -> None:
    with pytest.raises(UsageError) as e:
        check_lab_name(name, "evil.toml: lab.name")
    assert e.value.exit_code == 2
    text = str(e.value)
    assert text.startswith("evil.toml: lab.name: ") and "e.g. natgw" in text


def test_check_lab_name_returns_a_good_name() -> None:
    assert check_lab_name("natgw") == "natgw"


INTERFACES = """
[lab]
name = "t2ifn"
[nodes.r]
kind = "router"
[nodes.a]
[nodes.b]
[nodes.c]
[switches.lan]
[[links]]
endpoints = ["r", "a"]
[[links]]
endpoints = ["r:eth0", "b"]
[[links]]
endpoints = ["r", "lan"]
[[links]]
endpoints = ["c:averylongname1", "lan"]
[[links]]
endpoints = ["r:wan", "c"]
"""


def test_interfaces_take_the_next_free_eth_after_explicit_names() -> None:
    p = plan(INTERFACES)
    # links[1] names eth0 explicitly, so links[0] and links[2] get eth1 and eth2.
    assert [i.name for i in p.node("r").interfaces] == ["eth1", "eth0", "eth2", "wan"]
    assert [i.name for i in p.node("c").interfaces] == ["averylongname1", "eth0"]


def test_switch_port_names() -> None:
    p = plan(INTERFACES)
    (lan,) = p.switches
    # '<node>-<ifname>' when it fits in 15 characters, else 'port<N>'.
    assert [(x.ifname, x.node, x.node_ifname) for x in lan.ports] == [
        ("r-eth2", "r", "eth2"), ("port1", "c", "averylongname1")]


def test_name_collision_and_reserved_ifname() -> None:
    ps = problems(INTERFACES.replace("[switches.lan]", "[switches.lan]\n[switches.a]")
                  .replace('"r:wan"', '"r:lo"'))
    assert [(p.path, p.message) for p in ps] == [
        ("switches.a", "'a' is both a node and a switch; they share one name space"),
        ("links[4].endpoints[0]", "interface name 'lo' is reserved by Linux"),
    ]



@pytest.mark.parametrize("extra", [
    '[defaults]\nsearch = ["lab.test\\n"]\n',
    '[nodes.a]\nsearch = ["lab.test\\n"]\n',
    '[nodes.a]\nsysctl = { "net.ipv4.ip_forward\\n" = "1" }\n',
    '[nodes.a]\nsysctl = { "net.ipv4.ip_forward" = "1\\n" }\n',
])
def test_trailing_newline_is_refused_in_domains_and_sysctls(extra: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`re.match` with `$` let one trailing newline through; these become file text."""
    from netlab.api import load
    from netlab.errors import TopologyError

    f = tmp_path / "t.toml"
    base = '[lab]\nname = "nl"\n[nodes.b]\n[[links]]\nendpoints = ["a", "b"]\n'
    f.write_text(base + ("" if "[nodes.a]" in extra else "[nodes.a]\n") + extra)
    with pytest.raises(TopologyError):
        load(f)
    f.write_text(base + ("" if "[nodes.a]" in extra else "[nodes.a]\n")
                 + extra.replace("\\n", ""))
    load(f)  # the same file without the newline is fine
