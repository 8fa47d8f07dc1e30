"""Uplinks as root: labs kept apart on the host, subnets that never shadow the host's own
routes, and host settings (ip_forward and what the kernel resets with it, neighbour
limits) held by one host-wide record across run directories and restored exactly by the
last lab to leave, also when a lab vanished without a destroy; hammered by ten labs in
parallel processes over two run directories.

Every packet goes to addresses of these labs only (their nodes and the host ends of their
uplinks, inside namespaces the tests created); `ip netns exec ... ping` is the witness.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import hostsnap, topogen
from tests.support.cli import run as cli
from tests.support.host import HOST_DIR, host_holders, leftovers, netns_names, settled_leftovers
from tests.support.names import RUN, run_prefix
from tests.support.netns import kernel_ping

pytestmark = [pytest.mark.root, pytest.mark.host_exclusive]

P = run_prefix("t5")  # this run's lab names: two runs at once never share one

WORKER = str(Path(__file__).parent / "uplink_worker.py")


def _name() -> str:
    return f"{P}u" + secrets.token_hex(2)


def _lab(name: str, extra: str = "", pc: bool = True) -> str:
    text = f'[lab]\nname = "{name}"\n[nodes.gw]\nkind = "router"\n'
    if pc:
        text += '[nodes.pc1]\n[[links]]\nendpoints = ["gw", "pc1"]\n'
    return text + f'[uplink]\nnode = "gw"\n{extra}'


def _ends(lab: Any) -> tuple[str, str]:
    """(host address, node address) of a deployed lab's uplink."""
    up = lab.plan.uplink
    return up.host_address.split("/")[0], up.node_address.split("/")[0]


def _skip_if_others(mine: set[str], when: str) -> None:
    others = sorted({h.get("lab") for h in host_holders()} - mine)
    if others:
        pytest.skip(f"labs of someone else hold host settings {when} ({others}): the host's"
                    " settings cannot be compared")


# --- isolation ----------------------------------------------------------------------------


def test_uplink_labs_cannot_reach_each_other(labs) -> None:  # type: ignore[no-untyped-def]
    """Found: 100.64.x from one lab pinged the other lab's gateway through the host."""
    from netlab.lab import Lab

    a_name, b_name = _name(), _name()
    a = Lab.deploy(labs.write(a_name, _lab(a_name)))
    b = Lab.deploy(labs.write(b_name, _lab(b_name)))
    try:
        (a_host, a_node), (b_host, b_node) = _ends(a), _ends(b)
        # Positive controls: each lab reaches its own gateway, from the gw and from behind it.
        for lab, host in ((a, a_host), (b, b_host)):
            assert kernel_ping(f"{lab.name}-gw", host), f"{lab.name} cannot reach its own gateway"
            assert kernel_ping(f"{lab.name}-pc1", host), f"{lab.name}-pc1 cannot reach its gateway"
        for src, (host, node) in ((a, (b_host, b_node)), (b, (a_host, a_node))):
            for n in ("gw", "pc1"):
                assert not kernel_ping(f"{src.name}-{n}", host), f"{src.name}-{n} reached {host}"
                assert not kernel_ping(f"{src.name}-{n}", node), f"{src.name}-{n} reached {node}"
    finally:
        a.destroy()
        b.destroy()


def test_labs_that_both_opt_out_of_isolation_reach_each_other(labs) -> None:  # type: ignore[no-untyped-def]
    from netlab.lab import Lab

    a_name, b_name, c_name = _name(), _name(), _name()
    a = Lab.deploy(labs.write(a_name, _lab(a_name, "isolated = false\n")))
    b = Lab.deploy(labs.write(b_name, _lab(b_name, "isolated = false\n")))
    c = Lab.deploy(labs.write(c_name, _lab(c_name)))
    try:
        (a_host, a_node), (b_host, b_node), (c_host, c_node) = _ends(a), _ends(b), _ends(c)
        assert kernel_ping(f"{a.name}-gw", b_host) and kernel_ping(f"{a.name}-gw", b_node)
        assert kernel_ping(f"{b.name}-pc1", a_node)
        # One side isolated is enough to keep them apart, both ways.
        assert not kernel_ping(f"{a.name}-gw", c_host) and not kernel_ping(f"{a.name}-gw", c_node)
        assert not kernel_ping(f"{c.name}-gw", a_host) and not kernel_ping(f"{c.name}-gw", a_node)
    finally:
        for lab in (a, b, c):
            lab.destroy()


# --- subnets against the host -------------------------------------------------------------


def test_uplink_subnet_overlapping_the_host_is_refused(labs) -> None:  # type: ignore[no-untyped-def]
    """Refused before anything is built (exit 2), naming what overlaps: a route of the
    host (any table), and another lab's uplink."""
    # Two /24s of this run's own (a second run at once must not meet them).
    x = 16 + int(RUN, 16) % 200
    route = [f"192.168.{x}.0/24", "table", "main"]
    name = _name()
    file = labs.write(name, _lab(name, f'subnet = "192.168.{x}.4/30"\n'))
    subprocess.run(["ip", "route", "add", "blackhole", *route], check=True)
    try:
        r = cli("deploy", str(file))
    finally:
        subprocess.run(["ip", "route", "del", "blackhole", *route], capture_output=True)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"overlaps the host's route 192.168.{x}.0/24" in r.stderr, r.stderr
    assert "nothing was built" in r.stderr and "Traceback" not in r.stderr
    assert leftovers(name) == []

    first, second = _name(), _name()
    same = f'subnet = "192.168.{x + 1}.0/30"\n'
    assert cli("deploy", str(labs.write(first, _lab(first, same)))).returncode == 0
    try:
        r = cli("deploy", str(labs.write(second, _lab(second, same))))
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"overlaps the host's address 192.168.{x + 1}.1/30 on nl-{first}" in r.stderr
        assert leftovers(second) == []
    finally:
        assert cli("destroy", first).returncode == 0


# --- host settings ------------------------------------------------------------------------


@pytest.fixture
def quiet_host() -> dict[str, str]:
    """The host's settings, when nothing of netlab's holds them (else the test skips)."""
    _skip_if_others(set(), "before the test")
    if Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1":
        pytest.skip("ip_forward is already 1 on this host: its restoring would not show")
    return hostsnap.settings()


def _set(key: str, value: str) -> None:
    Path("/proc/sys/net", key).write_text(value)


def test_forwarding_and_what_the_kernel_resets_with_it_restored(labs, quiet_host) -> None:  # type: ignore[no-untyped-def]
    """Writing ip_forward resets accept_redirects and every interface's forwarding; found:
    a hardened host (accept_redirects 0) came back with redirects accepted."""
    from netlab.lab import Lab

    old = {k: Path("/proc/sys/net", k).read_text().strip()
           for k in ("ipv4/conf/all/accept_redirects", "ipv4/conf/lo/forwarding")}
    _set("ipv4/conf/all/accept_redirects", "0")
    _set("ipv4/conf/lo/forwarding", "1")
    try:
        before = hostsnap.settings()
        name = _name()
        lab = Lab.deploy(labs.write(name, _lab(name)))
        during = hostsnap.settings()
        lab.destroy()
        after = hostsnap.settings()
        _skip_if_others({name}, "meanwhile")
    finally:
        for k, v in old.items():
            _set(k, v)
    assert during["net.ipv4.ip_forward"] == "1"
    assert during["net.ipv4.conf.lo.forwarding"] == "1"
    assert hostsnap.settings_diff(before, after) == []


def test_run_directories_share_one_record(labs, quiet_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Found: the forwarding lock and the former-value lookup looked only at the current
    NETLAB_RUN_DIR, so a lab destroyed in one run directory switched forwarding off under
    a lab running from another."""
    other = tmp_path / "run"
    other.mkdir(mode=0o700)
    env = {**os.environ, "NETLAB_RUN_DIR": str(other)}
    a, b = _name(), _name()
    assert cli("deploy", str(labs.write(a, _lab(a)))).returncode == 0
    try:
        r = cli("deploy", str(labs.write(b, _lab(b))), env=env)
        assert r.returncode == 0, r.stderr
        try:
            assert cli("destroy", a).returncode == 0
            assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1", \
                "forwarding switched off while a lab of the other run directory runs"
        finally:
            assert cli("destroy", b, env=env).returncode == 0
    finally:
        cli("destroy", a)
    _skip_if_others({a, b}, "meanwhile")
    assert hostsnap.settings_diff(quiet_host, hostsnap.settings()) == []


def _remove_by_hand(name: str) -> None:
    """What a person might do instead of `netlab destroy`: delete the namespaces, the
    host table and the state directory."""
    for ns in netns_names():
        if ns.startswith(name + "-"):
            subprocess.run(["ip", "netns", "delete", ns], check=True)
    subprocess.run(["nft", "delete", "table", "ip", f"netlab-{name}"], capture_output=True)
    state = Path("/run/netlab") / name
    subprocess.run(["umount", "-l", str(state)], capture_output=True)
    subprocess.run(["rm", "-rf", "--", str(state)], check=True)
    for entry in Path("/etc/netns").glob(f"{name}-*"):
        subprocess.run(["rm", "-rf", "--", str(entry)], check=True)
    (state.parent / f".{name}.lock").unlink(missing_ok=True)


def test_a_lab_removed_by_hand_gives_its_hold_back(labs, quiet_host) -> None:  # type: ignore[no-untyped-def]
    """Found: with a lab's state gone, the next lab took the raised ip_forward for the
    host's own value and 'restored' forwarding on for good."""
    gone, later = _name(), _name()
    assert cli("deploy", str(labs.write(gone, _lab(gone)))).returncode == 0
    _remove_by_hand(gone)
    assert settled_leftovers(gone) == []
    file = labs.write(later, _lab(later))
    assert cli("deploy", str(file)).returncode == 0
    assert [h["lab"] for h in host_holders() if h["lab"] in (gone, later)] == [later]
    assert cli("destroy", later).returncode == 0
    _skip_if_others({gone, later}, "meanwhile")
    assert hostsnap.settings_diff(quiet_host, hostsnap.settings()) == []
    assert not HOST_DIR.exists()


def test_pingall_neighbour_limits_restored_by_destroy(labs) -> None:  # type: ignore[no-untyped-def]
    """Found: pingall raised the host's gc_thresh1/2/3 and nothing ever lowered them."""
    _skip_if_others(set(), "before the test")
    before = hostsnap.settings()
    if int(before["net.ipv4.neigh.default.gc_thresh2"]) > 600:
        pytest.skip("neighbour limits already raised on this host: a 24-host pingall fits")
    name = _name()
    file = labs.write(name, topogen.star_lab(name, 24))
    assert cli("deploy", str(file)).returncode == 0
    try:
        r = cli("pingall", "--lab", name, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        during = hostsnap.settings()
    finally:
        assert cli("destroy", name).returncode == 0
    assert during["net.ipv4.neigh.default.gc_thresh3"] == "16384"
    assert during["net.ipv6.neigh.default.gc_thresh3"] == "16384"
    _skip_if_others({name}, "meanwhile")
    assert hostsnap.settings_diff(before, hostsnap.settings()) == []


def _lab_names(snaps: list[dict[str, Any]]) -> set[str]:
    """Every lab-like name in the snapshots (labs of other people come and go meanwhile:
    what names them is not ours to compare); the one scanner, hostsnap.other_labs."""
    return hostsnap.other_labs(snaps, "")


# --- the hammer ---------------------------------------------------------------------------

LABS, ROUNDS = 10, 20
_KEYS = ("links", "addresses", "routes4", "routes6", "rules4", "rules6", "nft", "sysctls",
         "ip_netns", "etc_netns", "run_netns", "run_netlab")


def test_hammer_ten_uplink_labs_two_run_directories(labs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """10 uplink labs x 20 rounds of deploy/destroy in random order, in parallel processes,
    half of them with another NETLAB_RUN_DIR, half of the rounds also holding the
    neighbour limits. While a lab is up the host keeps forwarding (each worker checks);
    afterwards the host's settings, interfaces, routes and nft tables are as before."""
    from netlab.lab import Lab

    seed = int(os.environ.get("NETLAB_HAMMER_SEED", random.randrange(1 << 30)))
    print(f"NETLAB_HAMMER_SEED={seed}")
    other = tmp_path / "run2"
    other.mkdir(mode=0o700)
    envs = [dict(os.environ, NETLAB_RUN_DIR=str(other)) if k % 2 else dict(os.environ)
            for k in range(LABS)]
    names = [_name() for _ in range(LABS)]
    files = [labs.write(n, _lab(n, pc=False)) for n in names]
    # First deploy after boot makes /run/netns a shared mount for good: not a leak.
    Lab.deploy(files[0]).destroy()
    _skip_if_others(set(), "before the test")
    before, settings_before = hostsnap.snapshot(), hostsnap.settings()
    start = time.monotonic()
    workers = [subprocess.Popen([sys.executable, WORKER, str(f), str(ROUNDS), str(seed + k)],
                                env=envs[k], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for k, f in enumerate(files)]
    outs = []
    try:
        for w in workers:
            outs.append(w.communicate(timeout=300))
    finally:
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                w.kill()
        for n, env in zip(names, envs, strict=True):  # whatever a failed worker left
            cli("destroy", n, env=env)
    took = time.monotonic() - start
    print(f"hammer: {LABS} labs x {ROUNDS} rounds in {took:.1f} s")
    for w, (out, err) in zip(workers, outs, strict=True):
        assert w.returncode == 0, f"seed {seed}: exit {w.returncode}\n{out}\n{err[-2000:]}"
    after, settings_after = hostsnap.snapshot(), hostsnap.settings()
    for n in names:
        assert settled_leftovers(n) == [], n
    assert list(other.iterdir()) == [], "state left in the second run directory"
    _skip_if_others(set(names), "meanwhile")  # their ip_forward is not ours to compare
    others = _lab_names([before, after]) - set(names)
    ignore = "|".join(rf"\b{o}\b" for o in sorted(others)) or None
    changed = hostsnap.diff({k: before[k] for k in _KEYS}, {k: after[k] for k in _KEYS},
                            ignore=ignore)
    assert changed == "", f"seed {seed}:\n{changed}"
    assert hostsnap.settings_diff(settings_before, settings_after) == []
    assert not HOST_DIR.exists()
    assert took < 120, f"the hammer took {took:.0f} s"
