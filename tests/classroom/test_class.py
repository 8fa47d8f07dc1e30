"""`netlab class up/status/down` on the kernel: copies isolated from each other, all or
nothing on a failure or an interruption, caps refused before anything is built."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from netlab.classroom import deploy, limits, record
from netlab.errors import NetlabError, UsageError
from tests.classroom.conftest import LAN4, Classes, cli
from tests.support import host

pytestmark = pytest.mark.root


def _ns(netns: str, *argv: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", netns, *argv], capture_output=True,
                          text=True, check=check)


def _ip(netns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "-n", netns, *argv], capture_output=True, text=True,
                          check=True)


def test_class_up_status_down_and_isolation(classes: Classes, tmp_path: Path) -> None:
    cls = classes.name()
    roster_file = tmp_path / "roster.txt"
    roster_file.write_text("Ada Lovelace\n[bold]Grace[/bold]\nAlan Turing\n")
    r = cli("class", "up", str(LAN4), "--roster", str(roster_file), "--name", cls)
    assert r.returncode == 0, r.stderr
    assert f"class {cls}: 3 copies" in r.stdout and "15 namespaces" in r.stdout
    assert "[bold]Grace[/bold]" in r.stdout  # printed as text, never as rich markup
    rec = record.read(cls)
    assert [s["student"] for s in rec.students] == ["Ada Lovelace", "[bold]Grace[/bold]",
                                                    "Alan Turing"]
    copies = rec.labs()
    assert copies == [f"{cls}-01", f"{cls}-02", f"{cls}-03"]
    # Separate namespaces, and every veth's far end in a namespace of the same copy:
    # no bridge, no wire is shared between copies.
    netns = host.netns_names()
    for lab in copies:
        mine = {n for n in netns if n.startswith(lab + "-")}
        assert len(mine) == 5, mine
        peers = 0
        for n in mine:
            ids = json.loads(_ip(n, "-j", "netns", "list-id").stdout or "[]")
            names = {i["nsid"]: i.get("name") for i in ids}
            for link in json.loads(_ip(n, "-j", "-d", "link", "show").stdout):
                if link.get("linkinfo", {}).get("info_kind") == "veth":
                    far = names.get(link.get("link_netnsid"))
                    assert far is not None and far.startswith(lab + "-"), (n, far)
                    peers += 1
        assert peers == 8  # four wires, seen from both ends
    # The kernel's ping as witness: give copy 1's pc1 and copy 2's pc2 addresses of one
    # subnet: no answer across copies; the same address in copy 1's own pc2 answers.
    a, b = copies[0], copies[1]
    _ns(f"{a}-pc1", "ip", "addr", "add", "10.77.0.1/24", "dev", "eth0", check=True)
    _ns(f"{b}-pc2", "ip", "addr", "add", "10.77.0.2/24", "dev", "eth0", check=True)
    assert _ns(f"{a}-pc1", "ping", "-c1", "-W1", "10.77.0.2").returncode != 0
    _ns(f"{a}-pc2", "ip", "addr", "add", "10.77.0.3/24", "dev", "eth0", check=True)
    assert _ns(f"{a}-pc1", "ping", "-c1", "-W1", "10.77.0.3").returncode == 0

    st = cli("class", "status", cls)
    assert st.returncode == 1  # drift: the addresses added above
    lines = {ln.split()[0]: ln for ln in st.stdout.splitlines()[2:] if ln.strip()}
    assert "drift" in lines["Ada"] and "drift" in lines["[bold]Grace[/bold]"]
    assert " up " in lines["Alan"] + " "

    again = cli("class", "up", str(LAN4), "--count", "1", "--name", cls)
    assert again.returncode == 2 and "is up already" in again.stderr

    down = cli("class", "down", cls)
    assert down.returncode == 0 and "3 copies destroyed" in down.stdout
    assert not record.exists(cls)
    for lab in copies:
        assert not host.settled_leftovers(lab)


def test_caps_refuse_before_building(classes: Classes) -> None:
    cls = classes.name()
    r = cli("class", "up", str(LAN4), "--count", "3", "--name", cls, "--max-copies", "2")
    assert r.returncode == 2
    assert "refused, nothing was built: 3 copies asked, a class may have at most 2" in r.stderr
    r = cli("class", "up", str(LAN4), "--count", "3", "--name", cls, "--max-namespaces", "14")
    assert r.returncode == 2 and "the class adds 15 (3 x 5), over the cap of 14" in r.stderr
    assert not record.exists(cls)
    assert not any(n.startswith(cls) for n in host.netns_names())


def test_cap_counts_the_users_deployed_labs(classes: Classes) -> None:
    caps = limits.Caps(copies=10, labs=10**6, namespaces=10**6)
    labs, ns = limits.users_labs()
    limits.check(caps, 3, 5)  # room
    with pytest.raises(UsageError, match=f"has {labs} labs? deployed; 2 more would make"):
        limits.check(limits.Caps(10, labs + 1, 10**6), 2, 5)


def test_name_collisions_are_refused_before_building(classes: Classes) -> None:
    cls = classes.name()
    taken = f"{cls}-02"
    subprocess.run(["ip", "netns", "add", f"{taken}-pc1"], check=True)
    try:
        r = cli("class", "up", str(LAN4), "--count", "3", "--name", cls)
    finally:
        subprocess.run(["ip", "netns", "delete", f"{taken}-pc1"], check=True)
    assert r.returncode == 2 and f"{taken} already exist" in r.stderr and "--name" in r.stderr
    assert not record.exists(cls)
    assert not any(n.startswith(cls) for n in host.netns_names())


@pytest.mark.parametrize("error", [NetlabError("the kernel said no"), KeyboardInterrupt()])
def test_failure_or_interrupt_rolls_back_every_copy(
        classes: Classes, monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """The third copy fails (or Ctrl-C comes while it is built): the copies already made
    are destroyed, and the class record with them."""
    cls = classes.name()
    real = deploy._deploy_one
    built: list[str] = []

    def flaky(plan, limit, support):  # type: ignore[no-untyped-def]
        if plan.lab.endswith("-03"):
            raise error
        out = real(plan, limit, support)
        built.append(plan.lab)
        return out

    monkeypatch.setattr(deploy, "_deploy_one", flaky)
    with pytest.raises(type(error)) as e:
        deploy.up(str(LAN4), ["a", "b", "c", "d"], name=cls, workers=1)
    assert built == [f"{cls}-01", f"{cls}-02"]
    if isinstance(error, NetlabError):
        assert "the kernel said no; every copy made was removed" in str(e.value)
    assert not record.exists(cls)
    for lab in built:
        assert not host.settled_leftovers(lab)
    assert not any(n.startswith(cls) for n in host.netns_names())


def test_a_lab_with_an_uplink_is_refused(classes: Classes, tmp_path: Path) -> None:
    cls = classes.name()
    f = tmp_path / "up.toml"
    f.write_text(f'[lab]\nname = "{cls}"\n[nodes.h1]\n[uplink]\nnode = "h1"\n')
    r = cli("class", "up", str(f), "--count", "2")
    assert r.returncode == 2, r.stderr
    assert "has an [uplink]" in r.stderr
    assert not record.exists(cls)


def test_ctrl_c_during_class_up_leaves_nothing(classes: Classes) -> None:
    """A real SIGINT to the running command, once the first copies exist."""
    import os
    import signal

    from tests.support.cli import spawn

    cls = classes.name()
    p = spawn("class", "up", str(LAN4), "--count", "12", "--name", cls, group=True)
    assert host.wait_for(lambda: any(n.startswith(cls) for n in host.netns_names()), 30)
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, (out, err)
    assert "interrupted" in err
    assert not record.exists(cls)
    assert host.wait_for(lambda: not any(n.startswith(cls) for n in host.netns_names()), 5)
    for i in range(1, 13):
        assert not host.settled_leftovers(f"{cls}-{i:02d}", timeout=0.1)
