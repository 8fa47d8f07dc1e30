"""`netlab save/restore/reset`, with the kernel's `ip`, `nft` and `sysctl` as witnesses:
a lab broken in several ways comes back exactly as saved, and its check passes again."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.classroom.conftest import Classes, cli
from tests.support import host

pytestmark = pytest.mark.root

LAB = """[lab]
name = "{name}"
[nodes.h1]
[nodes.r1]
kind = "router"
[nodes.h2]
[[links]]
endpoints = ["h1", "r1"]
[[links]]
endpoints = ["r1", "h2"]
[[expect]]
from = "h1"
to = "h2"
"""


def _sh(netns: str, script: str) -> str:
    return subprocess.run(["ip", "netns", "exec", netns, "sh", "-c", script],
                          capture_output=True, text=True, check=True).stdout


def _witness(lab: str) -> dict[str, str]:
    """What the kernel's own tools say of each node (links: admin state and MTU; the
    operational state is left out: it follows the carrier, in its own time)."""
    out = {}
    for n in ("h1", "r1", "h2"):
        links = json.loads(_sh(f"{lab}-{n}", "ip -j link show"))
        out[n] = "".join(f"{x['ifname']} {'UP' in x['flags']} {x['mtu']}\n" for x in links)
        out[n] += _sh(f"{lab}-{n}", "ip -o addr show | awk '{print $2, $4}';"
                      " ip route show table all | grep -v 'table local'; ip -6 route;"
                      " nft list ruleset;"
                      " sysctl net.ipv4.ip_forward net.ipv4.conf.all.rp_filter")
    return out


def test_save_break_restore_reset(classes: Classes, tmp_path: Path) -> None:
    lab = classes.lab("k")
    f = tmp_path / "lab.toml"
    f.write_text(LAB.replace("{name}", lab))
    assert cli("deploy", str(f)).returncode == 0
    # A student's own good change, then the checkpoint.
    _sh(f"{lab}-h2", "ip addr add 10.9.9.9/32 dev eth0")
    before = _witness(lab)
    r = cli("save", lab, "mine")
    assert r.returncode == 0, r.stderr
    # Broken five ways: a flushed address, a deleted route, an added route, forwarding
    # off, an nft drop rule; and an interface taken down.
    _sh(f"{lab}-r1", "ip addr flush dev eth1; sysctl -qw net.ipv4.ip_forward=0;"
        " nft add table inet x; nft add chain inet x f '{ type filter hook forward"
        " priority 0; }'; nft add rule inet x f drop")
    _sh(f"{lab}-h1", "ip route del default; ip route add 10.66.0.0/16 dev eth0")
    _sh(f"{lab}-h2", "ip link set eth0 down")
    broken = _witness(lab)
    assert all(broken[n] != before[n] for n in before)
    assert cli("check", "--lab", lab).returncode == 1

    r = cli("restore", lab, "mine")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "checkpoint mine restored (3 nodes changed)" in r.stdout
    assert _witness(lab) == before
    assert cli("check", "--lab", lab).returncode == 0
    again = cli("restore", lab, "mine")
    assert "(0 nodes changed)" in again.stdout  # nothing differs: nothing is touched

    # reset: the deployed state (the student's 10.9.9.9 gone), checkpoints kept.
    r = cli("reset", lab)
    assert r.returncode == 0 and "checkpoints kept: mine" in r.stdout, r.stderr
    assert "10.9.9.9" not in _sh(f"{lab}-h2", "ip -br addr")
    assert cli("restore", lab, "mine").returncode == 0
    assert "10.9.9.9" in _sh(f"{lab}-h2", "ip -br addr")

    bad = cli("restore", lab, "nope")
    assert bad.returncode == 2 and "has no checkpoint 'nope' (it has: mine)" in bad.stderr
    bad = cli("save", lab, "../x")
    assert bad.returncode == 2 and "checkpoint" in bad.stderr
    assert cli("destroy", lab).returncode == 0


FILES = """[lab]
name = "{name}"
[nodes.h1]
files = { "/etc/motd" = "from netlab\\n", "/srv/www/index.html" = "<h1>hi</h1>\\n" }
[nodes.h2]
[[links]]
endpoints = ["h1", "h2"]
"""


def test_files_netlab_placed_come_back_in_the_node_only(classes: Classes,
                                                        tmp_path: Path) -> None:
    """Read and written inside the node's own mount namespace; the host's files (same
    paths) are never touched. Without private machines, files are not recorded."""
    from netlab.classroom import checkpoint
    from netlab.lab import Lab

    lab = classes.lab("f")
    d = tmp_path / "lab"
    d.mkdir()  # a directory of its own: nothing beside the file is taken for node files
    (d / "lab.toml").write_text(FILES.replace("{name}", lab))
    assert cli("deploy", str(d / "lab.toml")).returncode == 0
    host_motd = Path("/etc/motd").read_bytes() if Path("/etc/motd").exists() else None
    handle = Lab.attach(lab)
    private = checkpoint.read_node(handle, "h1")["files"] is not None
    assert cli("save", lab, "one").returncode == 0
    handle.exec("h1", "echo broken > /etc/motd; rm /srv/www/index.html")
    r = cli("restore", lab, "one")
    shown = handle.exec("h1", "cat /etc/motd /srv/www/index.html").stdout
    if private:
        assert "h1: file /etc/motd, file /srv/www/index.html" in r.stdout, r.stdout
        assert shown == "from netlab\n<h1>hi</h1>\n"
    else:
        assert "file" not in r.stdout
    after = Path("/etc/motd").read_bytes() if Path("/etc/motd").exists() else None
    assert after == host_motd
    assert cli("destroy", lab).returncode == 0


OSPF = """[lab]
name = "{name}"
routing = "ospf"
[nodes.h1]
[nodes.r1]
kind = "router"
[nodes.r2]
kind = "router"
[nodes.h2]
[[links]]
endpoints = ["h1", "r1"]
[[links]]
endpoints = ["r1", "r2"]
[[links]]
endpoints = ["r2", "h2"]
[[expect]]
from = "h1"
to = "h2"
within = "30s"
"""


@pytest.mark.skipif(not Path("/usr/bin/vtysh").exists(), reason="FRR is not installed")
def test_frr_configuration_comes_back(classes: Classes, tmp_path: Path) -> None:
    """A router's OSPF interface made passive (its neighbour lost) is undone by restore,
    through FRR's own frr-reload; vtysh is the witness."""
    from netlab.classroom import checkpoint
    from netlab.lab import Lab

    lab = classes.lab("o")
    d = tmp_path / "lab"
    d.mkdir()
    (d / "lab.toml").write_text(OSPF.replace("{name}", lab))
    assert cli("deploy", str(d / "lab.toml"), "--check").returncode == 0
    handle = Lab.attach(lab)
    if checkpoint.read_node(handle, "r1")["frr"] is None:
        pytest.skip("nodes have no private mount namespace here: FRR is not recorded")

    def neighbours() -> str:
        return handle.exec("r1", ["vtysh", "-c", "show ip ospf neighbor"]).stdout

    assert "Full" in neighbours()
    assert cli("save", lab, "ok").returncode == 0
    handle.exec("r1", ["vtysh", "-c", "conf t", "-c", "interface eth1", "-c",
                       "ip ospf passive", "-c", "end"])
    assert host.wait_for(lambda: "Full" not in neighbours(), 10, step=0.2)
    r = cli("restore", lab, "ok")
    assert r.returncode == 0 and "r1: FRR configuration" in r.stdout, r.stdout + r.stderr
    config = handle.exec("r1", ["vtysh", "-c", "show running-config"]).stdout
    assert "ip ospf passive" not in config.split("interface eth1", 1)[1].split("exit")[0]
    assert cli("check", "--lab", lab).returncode == 0  # within 30s: the adjacency is back
    assert cli("destroy", lab).returncode == 0
