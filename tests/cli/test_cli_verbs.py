"""CLI verbs against a real lab (root): what `netlab` says and its exit code, witnessed by
the kernel's own `ip` and `bridge`. Each test module deploys one lab of its own (a unique
name), destroyed even when a test fails."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.lab import Lab
from tests.support.names import renamed_text, unique_name

root = pytest.mark.root  # without root: skipped, with the reason (tests/support/plugin.py)

TOPOLOGY = """
[lab]
name = "x"
[nodes.a]
[nodes.b]
[switches.lan]
subnet = "10.77.0.0/24"
[[links]]
endpoints = ["a", "lan"]
[[links]]
endpoints = ["b", "lan"]
[[expect]]
from = "a"
to = "b"
"""


def netlab(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`netlab ARGS` as a user runs it: its own process (exec replaces it), real exit code."""
    return subprocess.run([sys.executable, "-m", "netlab", *args], capture_output=True,
                          text=True, input=stdin, timeout=60)


@pytest.fixture(scope="module")
def topo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = tmp_path_factory.mktemp("verbs") / "lab.toml"
    f.write_text(renamed_text(TOPOLOGY, unique_name("tv")))
    return f


@pytest.fixture(scope="module")
def lab(topo: Path) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("needs root (deploys a lab)")
    handle = Lab.deploy(topo)
    try:
        yield handle
    finally:
        handle.destroy()


def test_deploy_junit_without_check_is_a_usage_error(topo: Path, tmp_path: Path) -> None:
    junit = tmp_path / "out.xml"
    out = netlab("deploy", str(topo), "--junit", str(junit))
    if out.returncode == 0:  # the bug: it deployed (and would write nothing); clean up
        netlab("destroy", str(topo))
    assert out.returncode == 2, out
    assert "--junit FILE goes with --check" in out.stderr
    assert "Traceback" not in out.stderr
    assert not junit.exists()
    assert "deployed" not in out.stdout  # refused before anything was built


@root
@pytest.mark.parametrize("where", ["/nonexistent/x.pcap", "DIR"])
def test_capture_to_an_unwritable_file_says_so_before_capturing(
        lab: Lab, tmp_path: Path, where: str) -> None:
    target = str(tmp_path) if where == "DIR" else where
    out = netlab("capture", "--lab", lab.name, "a:eth0", "-w", target, "--seconds", "2")
    assert out.returncode in (1, 2), out
    assert f"cannot write {target}" in out.stderr
    assert "Traceback" not in out.stderr and "capturing" not in out.stderr


@root
def test_status_exits_1_when_the_kernel_differs_from_the_plan(lab: Lab) -> None:
    netns = lab.plan.node("b").netns
    ok = netlab("status", "--lab", lab.name)
    assert ok.returncode == 0, ok
    assert "kernel matches the plan" in ok.stdout
    subprocess.run(["ip", "-n", netns, "link", "set", "eth0", "down"], check=True)
    try:
        out = netlab("status", "--lab", lab.name)
        assert out.returncode == 1, out
        assert "node b: interface eth0 is down" in out.stdout
        js = netlab("status", "--lab", lab.name, "--json")
        assert js.returncode == 1, js
    finally:
        subprocess.run(["ip", "-n", netns, "link", "set", "eth0", "up"], check=True)


@root
def test_exec_in_a_switch_runs_in_its_network_namespace(lab: Lab) -> None:
    sw = lab.plan.switches[0]
    # The kernel's own view of the switch's bridge, as the witness.
    witness = subprocess.run(["ip", "-n", sw.netns, "-o", "link", "show", "master", sw.bridge],
                             capture_output=True, text=True, check=True).stdout
    ports = sorted(p.ifname for p in sw.ports)
    assert all(p in witness for p in ports)
    out = netlab("exec", "--lab", lab.name, "lan", "--", "bridge", "link", "show")
    assert out.returncode == 0, out
    assert sorted(p for p in ports if p in out.stdout) == ports
    fdb = netlab("exec", "--lab", lab.name, "lan", "--", "bridge", "fdb", "show")
    assert fdb.returncode == 0, fdb
    assert any(p in fdb.stdout for p in ports)
    # /sys shows the switch's interfaces, not the host's
    sys_net = netlab("exec", "--lab", lab.name, "lan", "--", "ls", "/sys/class/net")
    assert sys_net.returncode == 0, sys_net
    assert sorted(sys_net.stdout.split()) == sorted([*ports, sw.bridge, "lo"])


@root
def test_exec_names_nodes_and_switches_when_the_name_is_unknown(lab: Lab) -> None:
    out = netlab("exec", "--lab", lab.name, "lam", "--", "true")
    assert out.returncode == 2, out
    assert "no node or switch named 'lam'" in out.stderr and "lan" in out.stderr
    assert "Traceback" not in out.stderr


BAD_SYSCTL = """
[lab]
name = "x"
[nodes.a]
sysctl = {"net.ipv4.ip_forward" = "abc"}
[nodes.b]
[[links]]
endpoints = ["a", "b"]
"""


@root
def test_a_value_the_kernel_refuses_stops_validate_and_deploy(tmp_path: Path) -> None:
    # The backend's preflight finds it (api.load); exit 2 like any topology error.
    name = unique_name("tv")
    f = tmp_path / "bad.toml"
    f.write_text(renamed_text(BAD_SYSCTL, name))
    try:
        for verb in ("validate", "deploy"):
            out = netlab(verb, str(f))
            assert out.returncode == 2, out
            assert 'nodes.a.sysctl."net.ipv4.ip_forward"' in out.stderr
            assert out.stderr.rstrip().endswith("1 error; nothing was built")
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert name not in netns
    finally:
        netlab("destroy", name)
