"""The firewall check and the interfaces every node has (lo), and where nft's errors point
(issue 14 items 9 and 11)."""

from __future__ import annotations

import pytest

from netlab.compile import firewall
from netlab.errors import TopologyError
from netlab.linux import nft
from tests.support.compile import compile_text

HOOK = "type filter hook input priority filter; policy drop;"


def _lab(body: str) -> str:
    return f"""
[lab]
name = "t9fw"
[nodes.gw]
kind = "router"
nat = {{ masquerade = ["eth1"] }}
firewall = '''{body}'''
[nodes.a]
[nodes.b]
[[links]]
endpoints = ["a", "gw"]
[[links]]
endpoints = ["gw", "b"]
"""


@pytest.mark.parametrize("rule", ['iifname "lo" accept', "oifname lo accept",
                                  'iif "lo" accept', 'iifname { "lo", "eth0" } accept'])
def test_lo_is_an_interface_of_every_node(rule: str) -> None:
    found = firewall.problems(f"chain input {{ {HOOK} {rule}; }}", {"eth0", "eth1"})
    assert found == []


def test_an_interface_the_node_lacks_is_still_warned_about() -> None:
    (p,) = firewall.problems(f'chain input {{ {HOOK} iifname "eth7" accept; }}', {"eth0"})
    assert p.severity == "warning" and "'eth7'" in p.message


def test_validate_does_not_warn_about_lo() -> None:
    c = compile_text(_lab(f'chain input {{ {HOOK} iifname "lo" accept; }}'))
    assert [w for w in c.warnings if w.path == "nodes.gw.firewall"] == []


@pytest.mark.skipif(not nft.available(), reason="needs nftables (libnftables)")
def test_nft_errors_point_at_the_firewall_key_and_its_own_line() -> None:
    # The node also has NAT rules (loaded in the same transaction at deploy): the line is
    # still the one of the firewall text, under the firewall's key path.
    body = f"\nchain input {{\n    {HOOK}\n    ct state established accept\n" \
           "    tcp dport 22 acept\n}\n"
    with pytest.raises(TopologyError) as err:
        compile_text(_lab(body))
    (p,) = [p for p in err.value.problems if p.severity == "error"]
    assert p.path == "nodes.gw.firewall"
    # TOML drops the newline right after ''' : the bad rule is line 4 of the value.
    assert p.message.startswith("line 4: nft: "), p.message
    assert "tcp dport 22 acept" in p.message.split("\n")[1]
    for leak in ("/dev/stdin", "ruleset:", "/proc/self/fd", "netlab-nft"):
        assert leak not in p.message
    assert "line 4" in err.value.render() and "nodes.gw.firewall" in err.value.render()
