"""Sysctl values the kernel would refuse are found before anything is built (issue 14
item 9: validate passed and deploy failed), in scratch namespaces that touch nothing on
the host; interface sysctls are valid."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from netlab.backends.kernel.preflight import interface_of, split, sysctl_problems
from netlab.topology.model import TopologyFile
from tests.support.compile import plan_from
from tests.support.names import renamed_text, unique_name

TOPO = """
[lab]
name = "x"
[defaults]
ipv6 = true
[nodes.r1]
kind = "router"
[nodes.r1.sysctl]
"net.ipv4.ip_default_ttl" = 300
"net.ipv4.ip_forward" = "yes"
"net.ipv4.no_such_knob" = 1
"net.ipv6.conf.eth0.accept_ra" = 2
"net.ipv4.conf.eth1.rp_filter" = 2
"net.ipv4.conf.all.rp_filter" = 1
[nodes.h1]
[nodes.h2]
sysctl = { "net.ipv4.ip_default_ttl" = 0 }
[[links]]
endpoints = ["r1:eth0", "h1"]
[[links]]
endpoints = ["r1:eth1", "h2"]
"""


def _model(text: str = TOPO) -> TopologyFile:
    return TopologyFile.model_validate(tomllib.loads(text))


def test_split_keeps_interface_keys_for_later() -> None:
    assert interface_of("net.ipv6.conf.eth0.accept_ra") == "eth0"
    assert interface_of("net.ipv4.neigh.eth1.gc_stale_time") == "eth1"
    for key in ("net.ipv6.conf.all.accept_ra", "net.ipv6.conf.default.accept_ra",
                "net.ipv4.conf.lo.rp_filter", "net.ipv4.ip_forward", "net.core.somaxconn"):
        assert interface_of(key) is None, key
    early, late = split({"net.ipv4.ip_forward": "1", "net.ipv4.conf.eth0.rp_filter": "2",
                         "net.ipv6.conf.default.accept_dad": "0"})
    assert list(early) == ["net.ipv4.ip_forward", "net.ipv6.conf.default.accept_dad"]
    assert late == {"net.ipv4.conf.eth0.rp_filter": "2"}


@pytest.mark.root
def test_refused_values_are_named_by_their_toml_key() -> None:
    problems = sysctl_problems(_model())
    got = {p.path: p for p in problems}
    assert set(got) == {
        'nodes.r1.sysctl."net.ipv4.ip_default_ttl"',
        'nodes.r1.sysctl."net.ipv4.ip_forward"',
        'nodes.r1.sysctl."net.ipv4.no_such_knob"',
        'nodes.h2.sysctl."net.ipv4.ip_default_ttl"',
    }, [p.render("f.toml") for p in problems]
    assert all(p.severity == "error" and p.fix for p in problems)
    ttl = got['nodes.r1.sysctl."net.ipv4.ip_default_ttl"']
    assert "refuses this value" in ttl.message and "300" in ttl.message
    assert "no such sysctl" in got['nodes.r1.sysctl."net.ipv4.no_such_knob"'].message


@pytest.mark.root
def test_a_plan_is_checked_too() -> None:
    plan = plan_from(TOPO, unique_name("t"))
    paths = {p.path for p in sysctl_problems(plan)}
    assert 'nodes.h2.sysctl."net.ipv4.ip_default_ttl"' in paths and len(paths) == 4


@pytest.mark.root
def test_interface_sysctls_and_good_values_pass() -> None:
    good = TOPO.split("[nodes.r1.sysctl]")[0] + """[nodes.r1.sysctl]
"net.ipv6.conf.eth0.accept_ra" = 2
"net.ipv4.conf.eth1.rp_filter" = 2
"net.ipv4.neigh.eth1.gc_stale_time" = 30
"net.ipv4.ip_default_ttl" = 32
[nodes.h1]
[nodes.h2]
[[links]]
endpoints = ["r1:eth0", "h1"]
[[links]]
endpoints = ["r1:eth1", "h2"]
"""
    assert sysctl_problems(_model(good)) == []


def _host_view() -> tuple[object, ...]:
    def read(key: str) -> str:
        return Path("/proc/sys/" + key.replace(".", "/")).read_text()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    mounts = Path("/proc/self/mountinfo").read_text().count("\n")
    return (read("net.ipv4.ip_default_ttl"), read("net.ipv4.ip_forward"),
            read("net.ipv4.conf.all.rp_filter"), sorted(os.listdir("/run/netns"))
            if os.path.isdir("/run/netns") else [], links.count("\n"),
            "nlpf" in links, mounts)


@pytest.mark.root
@pytest.mark.host_exclusive
def test_the_probe_touches_nothing_on_the_host() -> None:
    before = _host_view()
    sysctl_problems(_model())
    assert _host_view() == before


@pytest.mark.root
def test_validate_says_so_with_exit_2(tmp_path: Path) -> None:
    file = tmp_path / "t.toml"
    file.write_text(renamed_text(TOPO, unique_name("t")))
    r = subprocess.run([sys.executable, "-m", "netlab", "validate", str(file)],
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert 'nodes.r1.sysctl."net.ipv4.ip_default_ttl"' in out and "Traceback" not in out
    assert "net.ipv6.conf.eth0.accept_ra" not in out  # valid: not a problem


@pytest.mark.root
def test_with_the_model_netlabs_own_keys_are_told_apart() -> None:
    """A key in the plan but not in the file (netlab's, for the node's kind or IPv6) is
    named at the node, with a fix that does not ask to remove a key the file lacks."""
    plan = plan_from(TOPO, unique_name("t"))
    h1 = plan.node("h1")
    h1 = h1.model_copy(update={"sysctls": {**h1.sysctls, "net.ipv4.ip_default_ttl": "999"}})
    plan = plan.model_copy(update={"nodes": [h1 if n.name == "h1" else n
                                             for n in plan.nodes]})
    got = {p.path: p for p in sysctl_problems(plan, model=_model())}
    assert 'nodes.r1.sysctl."net.ipv4.ip_default_ttl"' in got
    assert "nodes.h1" in got and "netlab sets it" in got["nodes.h1"].message
    assert "kernel" in got["nodes.h1"].fix and "remove" not in got["nodes.h1"].fix
