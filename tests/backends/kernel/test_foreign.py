"""Foreign objects and drift: destroy (and destroy --all) never removes a namespace,
interface, nft table or file that netlab did not create, even when its name matches a lab's
pattern; when someone deletes part of a running lab, status shows it and destroy still
cleans up the rest."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import host, topogen
from tests.support.cli import no_traceback
from tests.support.cli import run as cli
from tests.support.host import leftovers
from tests.support.names import run_prefix

pytestmark = pytest.mark.root

P = run_prefix("t5")  # this run's lab names: two runs at once never share one

NATGW = (topogen.TOPOLOGIES / "natgw.toml").read_text()


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _ino(path: str) -> int:
    return os.stat(path).st_ino


@pytest.fixture
def foreign() -> Iterator[list[list[str]]]:
    """Undo commands for hand-made objects, run at the end whatever happens."""
    undo: list[list[str]] = []
    yield undo
    for argv in reversed(undo):
        subprocess.run(argv, capture_output=True)


@pytest.fixture
def private_run_dir(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An env with a run directory of its own (root's, 0700), so `destroy --all` sees only
    this test's labs, never another run's."""
    d = tmp_path / "run"
    d.mkdir(mode=0o700)
    yield {**os.environ, "NETLAB_RUN_DIR": str(d)}
    # deploy makes the run directory a (bind) mount point; take it down so tmp can go.
    host.unmount_all(d)


def test_foreign_namespace_with_lab_name_blocks_deploy_and_survives(  # type: ignore[no-untyped-def]
        labs, foreign, private_run_dir) -> None:
    env = private_run_dir  # `destroy --all` below must see this test's labs only
    _sh("ip", "netns", "add", f"{P}x-pc1")
    foreign.append(["ip", "netns", "del", f"{P}x-pc1"])
    ino = _ino(f"/run/netns/{P}x-pc1")
    file = labs.write(f"{P}x", f'lab.name = "{P}x"\nnodes.pc1 = {{}}\nnodes.pc2 = {{}}\n'
                      'links = [{endpoints = ["pc1", "pc2"]}]\n')
    r = cli("deploy", str(file), env=env)
    assert r.returncode == 2 and no_traceback(r), r.stderr
    assert f"{P}x-pc1" in r.stderr and "nothing was built" in r.stderr
    assert leftovers(f"{P}x") == [f"netns {P}x-pc1"], "deploy built part of the lab"
    for args in (["destroy", f"{P}x"], ["destroy", str(file)], ["destroy", "--all"]):
        r = cli(*args, env=env)
        assert r.returncode == 0 and no_traceback(r), r.stderr
        assert _ino(f"/run/netns/{P}x-pc1") == ino, f"`netlab {' '.join(args)}` touched it"


def test_destroy_all_spares_lookalikes(labs, foreign, private_run_dir) -> None:  # type: ignore[no-untyped-def]
    """A lab with an uplink is deployed, then objects named like it (and like a lab that is
    not deployed) are made by hand; destroy --all removes the lab and nothing else."""
    env = private_run_dir
    file = labs.write(f"{P}y", topogen.with_uplink(topogen.renamed(NATGW, f"{P}y")) or "")
    labs.track(f"{P}yy")
    r = cli("deploy", str(file), env=env)
    assert r.returncode == 0, r.stderr
    hand_made = [
        (["ip", "netns", "add", f"{P}y-zz"], ["ip", "netns", "del", f"{P}y-zz"]),
        (["ip", "netns", "add", f"{P}yy-pc1"], ["ip", "netns", "del", f"{P}yy-pc1"]),
        (["ip", "link", "add", f"nl-{P}yy", "type", "veth", "peer", "name", f"{P}yy-peer"],
         ["ip", "link", "del", f"nl-{P}yy"]),
        (["nft", "add", "table", "ip", f"netlab-{P}yy"], ["nft", "delete", "table", "ip",
                                                         f"netlab-{P}yy"]),
        (["nft", "add", "table", "inet", f"netlab-{P}y"], ["nft", "delete", "table", "inet",
                                                          f"netlab-{P}y"]),
        (["mkdir", "-p", f"/etc/netns/{P}y-zz"], ["rm", "-rf", f"/etc/netns/{P}y-zz"]),
        (["sh", "-c", f"echo foreign > /etc/netns/{P}y-zz/resolv.conf"], None),
        (["ip", "netns", "exec", f"{P}y-gw", "nft", "add", "table", "ip", "mine"], None),
    ]
    for do, undo in hand_made:
        _sh(*do)
        if undo:
            foreign.append(undo)
    inodes = {n: _ino(f"/run/netns/{n}") for n in (f"{P}y-zz", f"{P}yy-pc1")}
    r = cli("destroy", "--all", env=env)
    assert r.returncode == 0 and no_traceback(r), r.stderr
    for n, ino in inodes.items():
        assert _ino(f"/run/netns/{n}") == ino, f"netns {n} was touched"
    assert f"nl-{P}yy" in host.host_links() and f"{P}yy-peer" in host.host_links()
    tables = host.nft_tables()
    assert f"table ip netlab-{P}yy" in tables and f"table inet netlab-{P}y" in tables
    assert Path(f"/etc/netns/{P}y-zz/resolv.conf").read_text() == "foreign\n"
    # ... while everything of the lab itself is gone.
    assert leftovers(f"{P}y") == [f"netns {P}y-zz", f"nft table inet netlab-{P}y",
                                f"etc /etc/netns/{P}y-zz"]
    assert f"table ip netlab-{P}y" not in tables


def test_destroy_spares_namespace_replaced_by_hand(labs, foreign) -> None:  # type: ignore[no-untyped-def]
    """Same name, different namespace: netlab compares the pinned inode, not the name."""
    file = labs.write(f"{P}r", f'lab.name = "{P}r"\nnodes.a = {{}}\nnodes.b = {{}}\n'
                      'links = [{endpoints = ["a", "b"]}]\n')
    assert cli("deploy", str(file)).returncode == 0
    _sh("ip", "netns", "del", f"{P}r-a")
    _sh("ip", "netns", "add", f"{P}r-a")
    foreign.append(["ip", "netns", "del", f"{P}r-a"])
    ino = _ino(f"/run/netns/{P}r-a")
    r = cli("status", "--lab", f"{P}r")
    assert r.returncode == 1 and f"{P}r-a" in r.stdout and "not the one" in r.stdout, r.stdout
    r = cli("destroy", f"{P}r")
    assert r.returncode == 0 and no_traceback(r), r.stderr
    assert _ino(f"/run/netns/{P}r-a") == ino
    assert f"{P}r-a" in r.stderr  # said so ("left alone")
    assert leftovers(f"{P}r") == [f"netns {P}r-a"]


def test_drift_is_shown_and_destroy_cleans_the_rest(labs) -> None:  # type: ignore[no-untyped-def]
    file = labs.write(f"{P}d", topogen.with_uplink(topogen.renamed(NATGW, f"{P}d")) or "")
    assert cli("deploy", str(file)).returncode == 0
    r = cli("status", "--lab", f"{P}d", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["drift"] == [], r.stdout
    _sh("ip", "netns", "del", f"{P}d-pc2")  # a whole node
    _sh("ip", "-n", f"{P}d-gw", "link", "del", "eth1")  # a wire (takes web's eth0 with it)
    _sh("ip", "-n", f"{P}d-pc1", "addr", "flush", "dev", "eth0")  # an address
    r = cli("status", "--lab", f"{P}d", "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    drift = "\n".join(json.loads(r.stdout)["drift"])
    for what in (f"{P}d-pc2", "eth1", "web", "10.0.0.2"):
        assert what in drift, f"{what} not reported in:\n{drift}"
    r = cli("status", "--lab", f"{P}d")
    assert r.returncode == 1 and "drift" in r.stdout and no_traceback(r)
    r = cli("destroy", f"{P}d")
    assert r.returncode == 0 and no_traceback(r), r.stderr
    assert leftovers(f"{P}d") == []
    assert f"nl-{P}d" not in host.host_links()
    assert f"table ip netlab-{P}d" not in host.nft_tables()
