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

import labkit
import pytest
import topogen
from labkit import cli, leftovers, no_traceback

pytestmark = pytest.mark.root

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
    """An env with a run directory of its own, so `destroy --all` sees only our labs."""
    d = tmp_path / "run"
    d.mkdir()
    yield {**os.environ, "NETLAB_RUN_DIR": str(d)}
    # deploy makes the run directory a (bind) mount point; take it down so tmp can go.
    labkit.unmount_all(d)


def test_foreign_namespace_with_lab_name_blocks_deploy_and_survives(labs, foreign) -> None:  # type: ignore[no-untyped-def]
    _sh("ip", "netns", "add", "t5x-pc1")
    foreign.append(["ip", "netns", "del", "t5x-pc1"])
    ino = _ino("/run/netns/t5x-pc1")
    file = labs.write("t5x", 'lab.name = "t5x"\nnodes.pc1 = {}\nnodes.pc2 = {}\n'
                      'links = [{endpoints = ["pc1", "pc2"]}]\n')
    r = cli("deploy", str(file))
    assert r.returncode == 2 and no_traceback(r), r.stderr
    assert "t5x-pc1" in r.stderr and "nothing was built" in r.stderr
    assert leftovers("t5x") == ["netns t5x-pc1"], "deploy built part of the lab"
    for args in (["destroy", "t5x"], ["destroy", str(file)], ["destroy", "--all"]):
        r = cli(*args)
        assert r.returncode == 0 and no_traceback(r), r.stderr
        assert _ino("/run/netns/t5x-pc1") == ino, f"`netlab {' '.join(args)}` touched it"


def test_destroy_all_spares_lookalikes(labs, foreign, private_run_dir) -> None:  # type: ignore[no-untyped-def]
    """A lab with an uplink is deployed, then objects named like it (and like a lab that is
    not deployed) are made by hand; destroy --all removes the lab and nothing else."""
    env = private_run_dir
    file = labs.write("t5y", topogen.with_uplink(topogen.renamed(NATGW, "t5y")) or "")
    labs.track("t5yy")
    r = cli("deploy", str(file), env=env)
    assert r.returncode == 0, r.stderr
    hand_made = [
        (["ip", "netns", "add", "t5y-zz"], ["ip", "netns", "del", "t5y-zz"]),
        (["ip", "netns", "add", "t5yy-pc1"], ["ip", "netns", "del", "t5yy-pc1"]),
        (["ip", "link", "add", "nl-t5yy", "type", "veth", "peer", "name", "t5yy-peer"],
         ["ip", "link", "del", "nl-t5yy"]),
        (["nft", "add", "table", "ip", "netlab-t5yy"], ["nft", "delete", "table", "ip",
                                                         "netlab-t5yy"]),
        (["nft", "add", "table", "inet", "netlab-t5y"], ["nft", "delete", "table", "inet",
                                                          "netlab-t5y"]),
        (["mkdir", "-p", "/etc/netns/t5y-zz"], ["rm", "-rf", "/etc/netns/t5y-zz"]),
        (["sh", "-c", "echo foreign > /etc/netns/t5y-zz/resolv.conf"], None),
        (["ip", "netns", "exec", "t5y-gw", "nft", "add", "table", "ip", "mine"], None),
    ]
    for do, undo in hand_made:
        _sh(*do)
        if undo:
            foreign.append(undo)
    inodes = {n: _ino(f"/run/netns/{n}") for n in ("t5y-zz", "t5yy-pc1")}
    r = cli("destroy", "--all", env=env)
    assert r.returncode == 0 and no_traceback(r), r.stderr
    for n, ino in inodes.items():
        assert _ino(f"/run/netns/{n}") == ino, f"netns {n} was touched"
    assert "nl-t5yy" in labkit.host_links() and "t5yy-peer" in labkit.host_links()
    tables = labkit.nft_tables()
    assert "table ip netlab-t5yy" in tables and "table inet netlab-t5y" in tables
    assert Path("/etc/netns/t5y-zz/resolv.conf").read_text() == "foreign\n"
    # ... while everything of the lab itself is gone.
    assert leftovers("t5y") == ["netns t5y-zz", "nft table inet netlab-t5y",
                                "etc /etc/netns/t5y-zz"]
    assert "table ip netlab-t5y" not in tables


def test_destroy_spares_namespace_replaced_by_hand(labs, foreign) -> None:  # type: ignore[no-untyped-def]
    """Same name, different namespace: netlab compares the pinned inode, not the name."""
    file = labs.write("t5r", 'lab.name = "t5r"\nnodes.a = {}\nnodes.b = {}\n'
                      'links = [{endpoints = ["a", "b"]}]\n')
    assert cli("deploy", str(file)).returncode == 0
    _sh("ip", "netns", "del", "t5r-a")
    _sh("ip", "netns", "add", "t5r-a")
    foreign.append(["ip", "netns", "del", "t5r-a"])
    ino = _ino("/run/netns/t5r-a")
    r = cli("status", "--lab", "t5r")
    assert r.returncode == 1 and "t5r-a" in r.stdout and "not the one" in r.stdout, r.stdout
    r = cli("destroy", "t5r")
    assert r.returncode == 0 and no_traceback(r), r.stderr
    assert _ino("/run/netns/t5r-a") == ino
    assert "t5r-a" in r.stderr  # said so ("left alone")
    assert leftovers("t5r") == ["netns t5r-a"]


def test_drift_is_shown_and_destroy_cleans_the_rest(labs) -> None:  # type: ignore[no-untyped-def]
    file = labs.write("t5d", topogen.with_uplink(topogen.renamed(NATGW, "t5d")) or "")
    assert cli("deploy", str(file)).returncode == 0
    r = cli("status", "--lab", "t5d", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["drift"] == [], r.stdout
    _sh("ip", "netns", "del", "t5d-pc2")  # a whole node
    _sh("ip", "-n", "t5d-gw", "link", "del", "eth1")  # a wire (takes web's eth0 with it)
    _sh("ip", "-n", "t5d-pc1", "addr", "flush", "dev", "eth0")  # an address
    r = cli("status", "--lab", "t5d", "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    drift = "\n".join(json.loads(r.stdout)["drift"])
    for what in ("t5d-pc2", "eth1", "web", "10.0.0.2"):
        assert what in drift, f"{what} not reported in:\n{drift}"
    r = cli("status", "--lab", "t5d")
    assert r.returncode == 1 and "drift" in r.stdout and no_traceback(r)
    r = cli("destroy", "t5d")
    assert r.returncode == 0 and no_traceback(r), r.stderr
    assert leftovers("t5d") == []
    assert "nl-t5d" not in labkit.host_links()
    assert "table ip netlab-t5d" not in labkit.nft_tables()
