"""exec, plan processes, status drift and the uplink, against the kernel."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import time
from pathlib import Path

import pytest

from netlab.plan.model import Plan
from tests.support import REPO
from tests.support.compile import plan_from
from tests.support.host import plan_leftovers

pytestmark = pytest.mark.root
NATGW = REPO / "topologies" / "natgw.toml"


def test_exec_is_like_ip_netns_exec(labs) -> None:  # type: ignore[no-untyped-def]
    lab = labs.deploy(plan_from(NATGW, "t3exec"))
    r = lab.exec("pc1", ["sh", "-c", "hostname; cat /etc/resolv.conf; ls /sys/class/net;"
                         " cat; exit 7"], input="from stdin\n")
    assert r.returncode == 7
    lines = r.stdout.splitlines()
    assert lines[0] == "pc1"
    assert "search lab.test" in lines
    assert "eth0" in lines and "lo" in lines  # /sys shows the node's interfaces
    assert lines[-1] == "from stdin"
    # Names resolve through the node's /etc/hosts: the kernel's ping as witness.
    r = lab.exec("pc1", ["ping", "-c1", "-W2", "web"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "203.0.113.2" in r.stdout
    # The host keeps its own hostname and files.
    assert Path("/etc/resolv.conf").read_text() != lab.plan.node("pc1").resolv_conf


def test_cli_exec_passes_exit_code_and_streams(labs) -> None:  # type: ignore[no-untyped-def]
    plan = plan_from(NATGW, "t3cli")
    labs.deploy(plan)
    r = subprocess.run(["netlab", "exec", "--lab", plan.lab, "gw", "--", "sh", "-c",
                        "read x; echo out:$x; echo err >&2; hostname; exit 3"],
                       input="hi\n", capture_output=True, text=True)
    assert r.returncode == 3
    assert r.stdout.split() == ["out:hi", "gw"]
    assert r.stderr.strip() == "err"


def test_plan_processes_log_and_stop_at_destroy(labs) -> None:  # type: ignore[no-untyped-def]
    def edit(raw):  # type: ignore[no-untyped-def]
        raw["nodes"]["pc2"]["exec"] = ["echo started on $(hostname); exec sleep 300"]
    plan = plan_from(NATGW, "t3proc", edit)
    lab = labs.deploy(plan)
    st = lab.status()
    procs = {n.name: n.processes for n in st.nodes}
    assert [p.alive for p in procs["pc2"]] == [True]
    assert [p.alive for p in procs["web"]] == [True]
    pids = [p.pid for n in st.nodes for p in n.processes]
    log = f"/run/netlab/{plan.lab}/logs/pc2.log"
    for _ in range(100):
        if "started on pc2" in Path(log).read_text():
            break
        time.sleep(0.02)
    assert "started on pc2" in Path(log).read_text()
    lab.destroy()
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or \
            Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_status_reads_the_kernel_and_flags_drift(labs) -> None:  # type: ignore[no-untyped-def]
    plan = plan_from(NATGW, "t3drift")
    lab = labs.deploy(plan)
    assert lab.status().drift == []
    gw, pc2 = plan.node("gw").netns, plan.node("pc2").netns
    subprocess.run(["ip", "-n", gw, "link", "del", "eth1"], check=True)
    subprocess.run(["ip", "-n", pc2, "addr", "flush", "dev", "eth0"], check=True)
    drift = lab.status().drift
    assert any("gw" in d and "eth1" in d and "missing" in d for d in drift), drift
    assert any("10.0.0.20/24" in d for d in drift), drift
    # The other end of the deleted veth went with it.
    assert any("web" in d and "eth0" in d for d in drift), drift
    r = subprocess.run(["netlab", "status", "--lab", plan.lab, "--json"], capture_output=True,
                       text=True)
    assert r.returncode == 1 and '"healthy": false' in r.stdout


def _host_forwarding() -> str:
    return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()


@pytest.mark.host_exclusive  # the host's own ip_forward, before and after
def test_uplink_host_side(labs) -> None:  # type: ignore[no-untyped-def]
    """Only the host side is checked: no packet is sent beyond the host."""
    from netlab.linux.nft import host_table_exists

    def edit(raw):  # type: ignore[no-untyped-def]
        raw["uplink"] = {"node": "gw", "subnet": "100.127.253.0/30"}
    before = _host_forwarding()
    plan: Plan = plan_from(NATGW, "t3up", edit)
    up = plan.uplink
    assert up is not None
    lab = labs.deploy(plan)
    r = subprocess.run(["ip", "-j", "addr", "show", "dev", up.host_ifname],
                       capture_output=True, text=True, check=True)
    import json
    info = json.loads(r.stdout)[0]
    have = [f"{a['local']}/{a['prefixlen']}" for a in info["addr_info"]]
    assert up.host_address in have
    assert ipaddress.ip_interface(up.host_address).network == \
        ipaddress.ip_network("100.127.253.0/30")
    assert host_table_exists("ip", f"netlab-{plan.lab}")
    assert _host_forwarding() == "1"
    st = lab.status()
    assert st.drift == []
    (host,) = [n for n in st.nodes if n.kind == "uplink"]
    assert [(i.name, i.state) for i in host.interfaces] == [(up.host_ifname, "up")]
    assert up.host_address in host.interfaces[0].addresses
    lab.destroy()
    assert plan_leftovers(plan) == []
    assert not host_table_exists("ip", f"netlab-{plan.lab}")
    assert _host_forwarding() == before
