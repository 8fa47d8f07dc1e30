"""Per-node /etc files (netlab.backends.kernel.files): a node whose plan has no hosts file
(`hosts_file = false`, issue 14 item 12) gets none, so `ip netns exec` and `netlab exec`
show it the machine's own /etc/hosts; the other nodes keep the lab's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.compile import plan_from
from tests.support.names import unique_name
from tests.support.netns import netns_exec

pytestmark = pytest.mark.root

TOPO = """
[lab]
name = "x"
[nodes.a]
[nodes.dnsclient]
hosts_file = false
[[links]]
endpoints = ["a", "dnsclient"]
"""


def _cat_hosts(netns: str) -> str:
    return netns_exec(netns, "cat", "/etc/hosts", check=True).stdout


def test_node_without_hosts_file_sees_the_machines(labs) -> None:  # type: ignore[no-untyped-def]
    plan = plan_from(TOPO, unique_name("t"))
    assert not plan.node("dnsclient").hosts_file
    labs.deploy(plan)
    a, c = plan.node("a").netns, plan.node("dnsclient").netns
    assert not os.path.lexists(f"/etc/netns/{c}/hosts")
    assert os.path.exists(f"/etc/netns/{c}/resolv.conf")
    assert _cat_hosts(c) == Path("/etc/hosts").read_text()
    assert "dnsclient" in _cat_hosts(a)  # the lab's hosts file still, for the others
    r = subprocess.run([sys.executable, "-m", "netlab", "exec", "--lab", plan.lab,
                        "dnsclient", "--", "cat", "/etc/hosts"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == Path("/etc/hosts").read_text(), r.stderr


def test_lab_wide_off(labs) -> None:  # type: ignore[no-untyped-def]
    def edit(raw):  # type: ignore[no-untyped-def]
        raw["lab"]["hosts_file"] = False
        del raw["nodes"]["dnsclient"]["hosts_file"]
    plan = plan_from(TOPO, unique_name("t"), edit)
    labs.deploy(plan)
    for n in plan.nodes:
        assert not os.path.lexists(f"/etc/netns/{n.netns}/hosts"), n.name
        assert _cat_hosts(n.netns) == Path("/etc/hosts").read_text()
