"""A node's sysctl table at validate: per-interface names for the node's own interfaces
(issue 14 item 9)."""

from __future__ import annotations

import pytest

from tests.support.compile import plan, problems


def _lab(sysctl: str, uplink: bool = False) -> str:
    text = f"""
[lab]
name = "t9sysctl"
[nodes.r]
kind = "router"
sysctl = {{ {sysctl} }}
[nodes.a]
[[links]]
endpoints = ["r", "a"]
[[links]]
endpoints = ["r:wan", "a"]
"""
    return text + ('[uplink]\nnode = "r"\nsubnet = "100.64.9.0/30"\n' if uplink else "")


@pytest.mark.parametrize("key", [
    "net.ipv6.conf.eth0.accept_ra", "net.ipv4.conf.wan.rp_filter",
    "net.ipv4.neigh.eth0.gc_stale_time", "net.ipv6.neigh.wan.base_reachable_time_ms",
    "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter",
    "net.ipv4.conf.lo.rp_filter", "net.ipv4.ip_forward", "net.core.somaxconn"])
def test_settings_of_the_node_s_own_interfaces_validate(key: str) -> None:
    p = plan(_lab(f'"{key}" = "1"'))
    assert p.node("r").sysctls[key] == "1"


def test_the_uplink_interface_is_one_of_the_node_s() -> None:
    assert plan(_lab('"net.ipv4.conf.uplink.rp_filter" = 0', uplink=True)) is not None


@pytest.mark.parametrize("key", ["net.ipv6.conf.eth5.accept_ra",
                                 "net.ipv4.neigh.eth2.gc_stale_time",
                                 "net.ipv4.conf.uplink.rp_filter"])
def test_an_interface_the_node_lacks_is_an_error_naming_it(key: str) -> None:
    (p,) = [p for p in problems(_lab(f'"{key}" = 0')) if p.severity == "error"]
    assert p.path == f'nodes.r.sysctl."{key}"'
    dev = key.split(".")[3]
    assert f"node 'r' has no interface '{dev}'" in p.message
    assert p.fix.startswith("use one of: eth0, wan")


def test_an_interface_directory_is_not_a_setting() -> None:
    (p,) = problems(_lab('"net.ipv4.conf.eth0" = 1'))
    assert "not a setting" in p.message
    assert "net.ipv4.conf.eth0.forwarding" in p.fix


def test_names_and_values_are_still_checked() -> None:
    found = problems(_lab('"kernel.panic" = 1, "net.ipv4.ip_forward" = "1; reboot"'))
    assert sorted(p.path for p in found) == ["nodes.r.sysctl",
                                             'nodes.r.sysctl."net.ipv4.ip_forward"']
