"""Node firewalls: a node's `firewall` text becomes `table inet netlab_fw { ... }`
in the node's nftables text, checked so that it cannot escape that table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netlab import firewall
from netlab.compiler import compile_topology
from netlab.errors import NetlabError, TopologyError
from netlab.loader import parse

CHAIN = ('chain forward {\n    type filter hook forward priority filter; policy drop;\n'
         '    ct state established,related accept\n    iifname "eth0" accept\n}')


def topo(fw: str, nat: str = "") -> str:
    return f'''
[lab]
name = "t6fw"
[nodes.a]
[nodes.gw]
kind = "router"
{nat}
firewall = """{fw}"""
[nodes.b]
[[links]]
endpoints = ["a", "gw:eth0"]
[[links]]
endpoints = ["gw:eth1", "b"]
'''


def compiled(text: str):  # type: ignore[no-untyped-def]
    return compile_topology(parse(text, "t.toml"), "t.toml")


def test_firewall_is_rendered_as_netlab_s_own_table_after_the_nat_table() -> None:
    c = compiled(topo(CHAIN, 'nat = { masquerade = ["eth1"] }'))
    nft = c.plan.node("gw").nftables
    assert nft is not None and c.warnings == []
    assert nft.index("table ip netlab {") < nft.index("table inet netlab_fw {")
    assert '\t    iifname "eth0" accept\n' in nft and nft.endswith("\t}\n}\n")
    assert c.plan.node("a").nftables is None


def test_firewall_alone_still_gives_one_ruleset() -> None:
    nft = compiled(topo(CHAIN)).plan.node("gw").nftables
    assert nft == firewall.render(CHAIN)
    assert nft.startswith("table inet netlab_fw {\n") and "table ip netlab " not in nft


@pytest.mark.parametrize(("body", "message"), [
    ("", "the firewall has no rules"),
    ("  # just a comment\n", "the firewall has no rules"),
    ("} table ip filter { chain x { } }", "closes a brace that was never opened"),
    ("chain x { } } table inet other {", "'table' is not allowed here"),
    ("flush ruleset", "'ruleset' is not allowed here"),
    ('include "/etc/nftables.conf"', "'include' is not allowed here"),
    ("define LAN = 10.0.0.0/24\nchain x { }", "'define' is not allowed here"),
    ("chain x { type filter hook input priority 0;", "'{' never closed"),
])
def test_escaping_or_empty_firewalls_are_errors_at_their_key(body: str, message: str) -> None:
    with pytest.raises(TopologyError) as err:
        compiled(topo(body))
    paths = {p.path for p in err.value.problems if message in p.message}
    assert paths == {"nodes.gw.firewall"}, err.value.render()
    assert all(p.fix for p in err.value.problems)


def test_words_inside_strings_and_comments_are_not_directives() -> None:
    body = CHAIN.replace("accept\n}", 'accept comment "table of ruleset"  # include\n}')
    assert firewall.problems(body, {"eth0"}) == []


def test_unknown_interfaces_and_missing_chains_are_warnings() -> None:
    c = compiled(topo('chain f { type filter hook forward priority 0; '
                      'iifname { "eth0", "eth7" } accept; oifname != eht1 drop }'))
    warned = {p.message for p in c.warnings if p.path == "nodes.gw.firewall"}
    assert any("'eth7'" in m for m in warned) and any("'eht1'" in m for m in warned)
    assert not any("'eth0'" in m for m in warned)
    probs = firewall.problems('set blocked { type ipv4_addr; }')
    assert [p.severity for p in probs] == ["warning"] and "no chain" in probs[0].message


@pytest.mark.root
def test_an_nft_syntax_error_fails_deploy_and_leaves_nothing(tmp_path: Path) -> None:
    from netlab.api import load
    from netlab.lab import Lab
    from netlab.netns import netns_path
    from netlab.state import lab_dir

    path = tmp_path / "t6fw.toml"
    path.write_text(topo("chain forward { type filter hook forward priority filter; "
                         "this is not nftables }"))
    plan = load(path).plan
    try:
        with pytest.raises(NetlabError, match="gw"):
            Lab.deploy(plan)
    finally:
        Lab(plan).destroy()
    assert not any(os.path.exists(netns_path(ns)) for ns in plan.namespaces)
    assert not lab_dir(plan.lab).exists()
