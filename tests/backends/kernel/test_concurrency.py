"""Concurrency: two netlab processes deploying one lab at once (one wins, the other is told
so, nothing is corrupted); ten labs deploying and destroying in parallel; labs isolated
from each other and from the host unless an uplink says so, proved with probes."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import hostsnap, topogen
from tests.support.cli import run as cli
from tests.support.cli import spawn
from tests.support.host import host_settings, leftovers
from tests.support.names import run_prefix
from tests.support.netns import kernel_ping

pytestmark = pytest.mark.root

P = run_prefix("t5")  # this run's lab names: two runs at once never share one

NATGW = (topogen.TOPOLOGIES / "natgw.toml").read_text()


def _healthy(name: str) -> None:
    r = cli("status", "--lab", name, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["drift"] == []


def test_same_lab_deployed_twice_at_once(labs) -> None:  # type: ignore[no-untyped-def]
    file = labs.write(f"{P}cc", topogen.star_lab(f"{P}cc", 60, switches=2, uplink=True))
    outcomes = set()
    for _ in range(3):
        a, b = spawn("deploy", str(file)), spawn("deploy", str(file))
        results = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in (a, b)]
        codes = sorted(rc for rc, _, _ in results)
        assert codes == [0, 1], results
        loser = next(err for rc, _, err in results if rc != 0)
        assert "Traceback" not in loser
        assert f"{P}cc" in loser and ("already deployed" in loser or "another netlab" in loser)
        outcomes.add("locked" if "another netlab" in loser else "deployed")
        _healthy(f"{P}cc")
        r = cli("destroy", f"{P}cc")
        assert r.returncode == 0, r.stderr
        assert leftovers(f"{P}cc") == []


def test_deploy_and_destroy_race(labs) -> None:  # type: ignore[no-untyped-def]
    """Whatever the order, the end state is all or nothing, never half a lab."""
    file = labs.write(f"{P}cr", topogen.star_lab(f"{P}cr", 60, switches=2))
    for _ in range(3):
        d, x = spawn("deploy", str(file)), spawn("destroy", f"{P}cr")
        for p in (d, x):
            p.wait(timeout=60)
            assert "Traceback" not in p.stderr.read()
        if leftovers(f"{P}cr"):
            _healthy(f"{P}cr")
            assert cli("destroy", f"{P}cr").returncode == 0
        assert leftovers(f"{P}cr") == []


def test_ten_labs_deploy_and_destroy_in_parallel(labs) -> None:  # type: ignore[no-untyped-def]
    """Half with an uplink (host forwarding and nft tables shared by several labs)."""
    names = [f"{P}p{k}" for k in range(10)]
    files = {}
    for k, n in enumerate(names):
        text = topogen.renamed(NATGW, n)
        files[n] = labs.write(n, topogen.with_uplink(text) if k % 2 else text)
    before = hostsnap.snapshot()
    forward = Path("/proc/sys/net/ipv4/ip_forward")
    fwd_before, held_before = host_settings(lambda: forward.read_text().strip())

    def cycle(name: str) -> tuple[str, int, str, int, str]:
        d = cli("deploy", str(files[name]))
        s = cli("status", "--lab", name)
        x = cli("destroy", name)
        return name, d.returncode, d.stderr + s.stdout, x.returncode, x.stderr

    with ThreadPoolExecutor(len(names)) as pool:
        results = list(pool.map(cycle, names))
    for name, drc, dout, xrc, xerr in results:
        assert drc == 0 and "kernel matches the plan" in dout, f"{name}: {dout}"
        assert xrc == 0, f"{name}: {xerr}"
        assert leftovers(name) == []
    after = hostsnap.snapshot()
    assert (d := hostsnap.diff(before, after, only=fr"{P}p\d")) == "", d
    # ip_forward is one value for the whole machine: another run of the suite (or anyone's
    # uplink lab) may hold it on meanwhile. So this compares only what this run's labs can
    # change: none of them may still hold a host setting, and the value must be back as it
    # was whenever no other lab held host settings, neither before nor after. Both are
    # read under netlab's own host-settings lock (support/host.py host_settings), so no
    # netlab process changes the value between reading the holders and reading it.
    fwd_after, held_after = host_settings(lambda: forward.read_text().strip())
    assert [h["lab"] for h in held_after if h.get("lab") in names] == [], "a lab still holds"
    if not held_before and not held_after:
        assert fwd_before == fwd_after, "ip_forward not restored"


@pytest.mark.host_exclusive  # the host's own ip_forward, before and after
def test_simultaneous_destroys_restore_forwarding(labs) -> None:  # type: ignore[no-untyped-def]
    """Two uplink labs destroyed at the same moment, each pausing before its state
    directory goes: the host's ip_forward still ends as it was before either lab."""
    import sys
    from pathlib import Path

    from netlab.state.store import deployed_labs, read_record

    key = Path("/proc/sys/net/ipv4/ip_forward")
    before = key.read_text().strip()
    if before == "1":
        pytest.skip("ip_forward is already 1 on this host: a missed restore would not show")
    names = [f"{P}fw1", f"{P}fw2"]
    for n in names:
        text = topogen.with_uplink(topogen.renamed(NATGW, n)) or ""
        assert cli("deploy", str(labs.write(n, text))).returncode == 0
    assert key.read_text().strip() == "1"
    helper = str(Path(__file__).parent / "slow_destroy.py")
    ps = [subprocess.Popen([sys.executable, helper, "0.5", n], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True) for n in names]
    for p in ps:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    others = [lab for lab in deployed_labs() if read_record(lab).of("hosthold")]
    if others:
        pytest.skip(f"other labs with an uplink are deployed meanwhile: {others}")
    assert key.read_text().strip() == before


# --- isolation --------------------------------------------------------------------------

def _two_hosts(name: str, subnet: str, uplink: bool) -> str:
    text = (f'lab.name = "{name}"\n'
            'nodes.gw = {kind = "router"}\nnodes.pc1 = {}\n'
            f'switches.lan = {{subnet = "{subnet}"}}\n'
            'links = [{endpoints = ["gw", "lan"]}, {endpoints = ["pc1", "lan"]}]\n')
    return text + ('uplink = {node = "gw"}\n' if uplink else "")


def _route_dev(addr: str) -> str:
    """The host's outgoing interface for addr (read only: nothing is sent)."""
    r = subprocess.run(["ip", "-j", "route", "get", addr], capture_output=True, text=True)
    return json.loads(r.stdout)[0].get("dev", "") if r.returncode == 0 else ""


def test_labs_isolated_from_each_other_and_from_host(labs) -> None:  # type: ignore[no-untyped-def]
    from netlab.lab import Lab

    a = Lab.deploy(labs.write(f"{P}ia", _two_hosts(f"{P}ia", "10.61.0.0/24", False)))
    c = Lab.deploy(labs.write(f"{P}ic", _two_hosts(f"{P}ic", "10.63.0.0/24", False)))
    b = Lab.deploy(labs.write(f"{P}ib", _two_hosts(f"{P}ib", "10.62.0.0/24", True)))
    assert b.plan.uplink is not None
    host_side = b.plan.uplink.host_address.split("/")[0]
    node_side = b.plan.uplink.node_address.split("/")[0]
    addr = {lab.name: {n.name: n.primary["4"] for n in lab.plan.nodes} for lab in (a, b, c)}
    q = {"count": 1, "timeout": 0.5}
    try:
        # Positive controls: the probe works inside each lab, and through b's uplink.
        for lab in (a, b, c):
            assert lab.ping("pc1", "gw", **q).ok, f"{lab.name}: pc1 cannot reach its own gw"
        assert b.ping("pc1", host_side, **q).ok, "b's uplink does not reach the host"
        # Lab to lab, both ways (neither a nor c has a way out).
        for src, dst in ((a, c), (c, a)):
            for node in ("pc1", "gw"):
                for target in addr[dst.name].values():
                    assert not src.ping(node, target, **q).ok, (src.name, node, target)
        # Lab to host: a and c cannot reach the host, not even b's uplink address.
        for lab in (a, c):
            assert not lab.ping("pc1", host_side, **q).ok
            assert not lab.ping("gw", host_side, **q).ok
        # (b -> a and b -> c are not probed: b's packets would leave through its uplink
        # and the host's default route, i.e. to the real network.)
        # Host to lab: only b's uplink leads in; a's and c's subnets are not routed into
        # any lab interface (checked with `ip route get`, so no packet leaves the host).
        assert _route_dev(node_side) == b.plan.uplink.host_ifname
        assert kernel_ping(None, node_side), "host cannot reach b through its uplink"
        for lab in (a, c):
            for target in addr[lab.name].values():
                dev = _route_dev(target)
                assert not dev.startswith(("nl-", "t5")), (target, dev)
    finally:
        for lab in (a, b, c):
            lab.destroy()
