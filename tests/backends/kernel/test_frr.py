"""FRR routers generated from the lab (issue 12 item 5), against the kernel: OSPF, RIP and
eBGP labs converge within seconds (vtysh in the node, through `netlab exec`, sees the
neighbours; the kernel's own ping reaches the far loopback), the ospf/bgp expectation
kinds pass with `within`, a hand-written frr.conf is honoured, and destroy (also after a
SIGKILLed deploy) leaves no FRR process and nothing in the host's /etc/frr, /var/run/frr,
/var/log/frr."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from netlab.backends.kernel.apply import PHASES
from netlab.lab import Lab
from netlab.plan.model import Plan
from tests.support.cli import run as cli
from tests.support.deploy import Labs
from tests.support.host import netns_inodes, pids_in, settled_leftovers
from tests.support.names import unique_name

pytestmark = pytest.mark.root

HOST_FRR = ("/etc/frr", "/var/run/frr", "/var/log/frr")


def _chain(proto: str, extra: str = "", r1: str = "") -> str:
    """Three routers in a row with a loopback each, a host behind r3."""
    asn = {"r1": 'asn = 65001', "r2": 'asn = 65002', "r3": 'asn = 65003'} \
        if proto == "bgp" else {"r1": "", "r2": "", "r3": ""}
    return f"""
[lab]
name = "{{name}}"
routing = "{proto}"
{extra}
[nodes.r1]
kind = "router"
loopback = ["10.0.0.1/32"]
{asn['r1']}
{r1}
[nodes.r2]
kind = "router"
loopback = ["10.0.0.2/32"]
{asn['r2']}
[nodes.r3]
kind = "router"
loopback = ["10.0.0.3/32"]
{asn['r3']}
[nodes.pc]
[switches.lan]
[[links]]
endpoints = ["r1", "r2"]
[[links]]
endpoints = ["r2", "r3"]
[[links]]
endpoints = ["r3", "lan"]
[[links]]
endpoints = ["pc", "lan"]
"""


def _vtysh(plan: Plan, node: str, show: str) -> str:
    """`netlab exec --lab LAB NODE -- vtysh -c SHOW`: what a student would type."""
    r = cli("exec", "--lab", plan.lab, node, "--", "vtysh", "-c", show, timeout=30)
    return r.stdout if r.returncode == 0 else ""


def _until(what: str, ok: Callable[[], bool], limit: float = 20.0) -> float:
    """Seconds until ok() holds (fails after `limit`)."""
    t0 = time.monotonic()
    while not ok():
        if time.monotonic() - t0 > limit:
            pytest.fail(f"{what}: not within {limit:g} s")
        time.sleep(0.1)
    return time.monotonic() - t0


def _ping(plan: Plan, node: str, address: str) -> bool:
    return subprocess.run(["ip", "netns", "exec", plan.node(node).netns, "ping", "-c1",
                           "-W1", address], capture_output=True).returncode == 0


def _full(plan: Plan, node: str) -> int:
    text = _vtysh(plan, node, "show ip ospf neighbor json")
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return 0
    return sum(1 for xs in data.get("neighbors", {}).values() for x in xs
               if str(x.get("nbrState", "")).startswith("Full"))


def _host_frr() -> dict[str, str]:
    """The host's FRR directories: every entry's content hash, or a directory's mode."""
    out = {}
    for top in HOST_FRR:
        for dirpath, dirs, files in os.walk(top):
            for name in sorted(dirs + files):
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                if os.path.isfile(p):
                    out[p] = hashlib.sha1(Path(p).read_bytes()).hexdigest()
                else:
                    out[p] = f"{st.st_mode:o}"
            out[dirpath] = f"{os.lstat(dirpath).st_mode:o} {os.lstat(dirpath).st_uid}"
    return out


def _daemons(plan: Plan) -> dict[int, str]:
    """pid -> name of every FRR daemon in the lab's node namespaces."""
    out = {}
    for n in plan.nodes:
        pids = subprocess.run(["ip", "netns", "pids", n.netns], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if comm in ("zebra", "ospfd", "ripd", "bgpd", "staticd"):
                out[int(pid)] = comm
    return out


def _alive(pid: int, name: str) -> str | None:
    """The state of process `pid` if it is still daemon `name` and not a zombie (these
    tests deploy in-process: the daemons' parent, pytest, reaps them later)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2]
    return state if comm == name and state != "Z" else None


def test_ospf_chain_converges_and_destroy_leaves_nothing(labs: Labs) -> None:
    before = _host_frr()
    t0 = time.monotonic()
    plan = labs.lab(_chain("ospf"))
    deployed = time.monotonic() - t0
    full = _until("r2 has two Full OSPF neighbours", lambda: _full(plan, "r2") == 2)
    far = _until("r1 reaches r3's loopback", lambda: _ping(plan, "r1", "10.0.0.3"))
    print(f"ospf: deploy {deployed:.2f} s, then Full {full:.2f} s, r1 -> 10.0.0.3"
          f" {full + far:.2f} s")
    assert "Full" in _vtysh(plan, "r1", "show ip ospf neighbor")
    assert _ping(plan, "pc", "10.0.0.1")  # the host's static default route, then OSPF's
    routes = subprocess.run(["ip", "-n", plan.node("r1").netns, "route"], capture_output=True,
                            text=True).stdout
    assert "10.0.0.3 " in routes and "proto ospf" in routes
    # Each node's vtysh talks to its own daemons (its own /run/frr).
    assert "hostname r2" in _vtysh(plan, "r2", "show running-config")
    # status: routes the protocol installed are not drift.
    assert cli("status", "--lab", plan.lab).returncode == 0
    daemons = _daemons(plan)
    assert sorted(daemons.values()) == ["ospfd"] * 3 + ["zebra"] * 3
    Lab(plan).destroy()
    alive = {pid: name for pid, name in daemons.items() if _alive(pid, name)}
    assert alive == {}
    assert _host_frr() == before


def test_rip_chain_converges(labs: Labs) -> None:
    plan = labs.lab(_chain("rip"))
    took = _until("r1 reaches r3's loopback", lambda: _ping(plan, "r1", "10.0.0.3"))
    print(f"rip: r1 -> 10.0.0.3 {took:.2f} s after deploy")
    assert "10.0.0.3/32" in _vtysh(plan, "r1", "show ip rip")
    routes = subprocess.run(["ip", "-n", plan.node("r1").netns, "route"], capture_output=True,
                            text=True).stdout
    assert "proto rip" in routes


EXPECT = """
[[expect]]
from = "r2"
ospf = {{ neighbor = "r1" }}
within = "20s"
[[expect]]
from = "r2"
ospf = {{ neighbor = "10.0.0.3", state = "Full" }}
within = "20s"
[[expect]]
from = "r1"
to = "10.0.0.3"
within = "20s"
"""

BGP_EXPECT = """
[[expect]]
from = "r2"
bgp = {{ peer = "r1" }}
within = "20s"
[[expect]]
from = "r2"
bgp = {{ peer = "r3", state = "Established" }}
within = "20s"
[[expect]]
from = "r1"
to = "10.0.0.3"
within = "20s"
"""


def test_ospf_expectations_pass_within(labs: Labs) -> None:
    plan = labs.lab(_chain("ospf") + EXPECT.replace("{{", "{").replace("}}", "}"))
    report = Lab(plan).check()
    assert report.ok, [(r.label, r.detail) for r in report.failed]  # type: ignore[attr-defined]


def test_ebgp_converges_and_bgp_expectations_pass(labs: Labs) -> None:
    plan = labs.lab(_chain("bgp") + BGP_EXPECT.replace("{{", "{").replace("}}", "}"))
    took = _until("r1 reaches r3's loopback", lambda: _ping(plan, "r1", "10.0.0.3"))
    print(f"bgp: r1 -> 10.0.0.3 {took:.2f} s after deploy")
    summary = _vtysh(plan, "r2", "show bgp summary")
    assert "65001" in summary and "65003" in summary
    report = Lab(plan).check()
    assert report.ok, [(r.label, r.detail) for r in report.failed]  # type: ignore[attr-defined]
    # A peer that is not one: the kind says so (it would pass if it read nothing).
    wrong = Lab(plan).check([e.model_copy(update={"within": 0.0, "bgp": e.bgp.model_copy(
        update={"state": "Idle"})}) for e in plan.expect if e.bgp is not None][:1])
    assert not wrong.ok


HANDWRITTEN = '''files = { "/etc/frr/frr.conf" = """
hostname handmade-r1
interface eth0
 ip ospf hello-interval 1
 ip ospf dead-interval 3
 ip ospf network point-to-point
exit
router ospf
 ospf router-id 10.0.0.1
 network 10.0.0.0/8 area 0
exit
""" }'''


def test_a_handwritten_frr_conf_is_honoured(labs: Labs) -> None:
    plan = labs.lab(_chain("ospf", r1=HANDWRITTEN))
    running = _vtysh(plan, "r1", "show running-config")
    assert "network 10.0.0.0/8 area 0" in running and "hostname handmade-r1" in running
    assert "hostname r2" in _vtysh(plan, "r2", "show running-config")  # generated
    took = _until("r1 reaches r3's loopback", lambda: _ping(plan, "r1", "10.0.0.3"))
    print(f"hand-written r1: r1 -> 10.0.0.3 {took:.2f} s after deploy")


def test_sigkill_of_deploy_at_any_point_then_destroy_leaves_no_frr(labs: Labs) -> None:
    """deploy killed (SIGKILL) after each phase from the machines on, and inside the first
    exec start; `netlab destroy` then ends every daemon and the host's FRR directories
    are as before (issue 12 item 6)."""
    here = Path(__file__).parent
    name = unique_name("tk")
    file = labs.write(name, _chain("ospf").replace("{name}", name))
    phases = [p for p, _ in PHASES]
    points = [str(k) for k in range(phases.index("machines"), len(phases))] + ["exec"]
    before = _host_frr()
    for k in points:
        p = subprocess.run([sys.executable, str(here / "killer.py"), k, "SIGKILL", str(file)],
                           capture_output=True, text=True, timeout=60)
        where = f"SIGKILL after {phases[int(k)] if k != 'exec' else 'first exec start'}"
        assert p.returncode == -9, f"{where}: {p.returncode} {p.stderr}"
        inodes = netns_inodes(f"{name}-")
        r = cli("destroy", name)
        assert r.returncode == 0, f"{where}: {r.stderr}"
        assert settled_leftovers(name) == [], where
        deadline = time.monotonic() + 3
        while (left := pids_in(f"{name}-", inodes)) and time.monotonic() < deadline:
            time.sleep(0.05)  # a daemon ending on SIGTERM takes a moment
        assert left == [], f"{where}: processes survived: {left}"
        assert _host_frr() == before, where
