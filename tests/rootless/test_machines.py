"""The routing and DHCP labs without root (docs/rootless.md, "Routing and DHCP labs"), as
a real unprivileged user: FRR's daemons run as root of the node (the user, in the user's
namespace), /etc/frr (frr:frr 0750 on the host) is the node's own opaque directory, and
the directories daemons write (/etc/dhcp, /var/lib/dhcp, /var/lib/misc) are made in the
node's layer beforehand. One deploy per lab, shared by the assertions; the host's FRR
and DHCP directories hash the same before and after."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rootless.conftest import TOPOLOGIES, User, lab_name

# Host paths the labs' daemons and files would touch if anything leaked out of a node.
WATCHED = ("/etc/frr", "/etc/dhcp", "/etc/radvd.conf", "/etc/hosts", "/etc/hostname",
           "/etc/resolv.conf", "/var/lib/dhcp", "/var/lib/misc", "/var/tmp/frr",
           "/var/log/frr", "/var/run/frr")
OTHERS = ("slaac", "rip", "bgp")  # the other labs with daemons (ospf-areas, failover: as ospf)


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def _tree(top: str) -> dict[str, tuple[object, ...]]:
    """Every entry under `top` (itself included): type and mode, owner, size, and the
    content's hash for a regular file (read as root: /etc/frr is 0750)."""
    out: dict[str, tuple[object, ...]] = {}
    if not os.path.lexists(top):
        return out
    paths = [top]
    if os.path.isdir(top) and not os.path.islink(top):
        for d, dirs, files in os.walk(top):
            paths += [os.path.join(d, n) for n in dirs + files]
    for p in paths:
        st = os.lstat(p)
        digest = ""
        if os.path.isfile(p) and not os.path.islink(p):
            digest = hashlib.sha256(Path(p).read_bytes()).hexdigest()
        out[p] = (st.st_mode, st.st_uid, st.st_gid,
                  st.st_size if os.path.isfile(p) else 0, digest)
    return out


def _host() -> dict[str, dict[str, tuple[object, ...]]]:
    return {t: _tree(t) for t in WATCHED}


def _lab(d: Path, bundled: str, name: str) -> Path:
    text = (TOPOLOGIES / f"{bundled}.toml").read_text()
    old = f'name = "{bundled}"'
    assert old in text
    p = d / f"{name}.toml"
    p.write_text(text.replace(old, f'name = "{name}"', 1))
    p.chmod(0o644)
    return p


@pytest.fixture(scope="module")
def deployed(users: tuple[User, User]) -> Iterator[tuple[User, dict[str, str], object]]:
    """The ospf and dhcp labs (and OTHERS), deployed by one user without root, one after
    the other (each converges while the next deploys): (user, bundled name -> lab name,
    the host before)."""
    a, _ = users
    d = Path(f"/tmp/nlr-machines-{secrets.token_hex(4)}")
    d.mkdir(mode=0o755)
    before = _host()
    names = {bundled: lab_name() for bundled in ("ospf", "dhcp", *OTHERS)}
    try:
        for bundled, name in names.items():
            _ok(a.run("deploy", str(_lab(d, bundled, name))))
        yield a, names, before
    finally:
        a.run("destroy", "--all")
        shutil.rmtree(d, ignore_errors=True)


def test_ospf_converges_and_vtysh_works(deployed):
    a, names, _ = deployed
    lab = names["ospf"]
    out = _ok(a.run("check", "--lab", lab))  # neighbours Full, routes, paths (exit 0)
    assert "6/6 expectations passed" in out, out
    out = _ok(a.run("exec", "--lab", lab, "r1", "--", "vtysh", "-c", "show ip ospf neighbor"))
    assert out.count("Full/") == 2, out
    # FRR's daemons run as the node's root (the user), and /etc/frr holds netlab's files
    # only: the host's (support_bundle_commands.conf...) are not seen, nor needed.
    out = _ok(a.run("exec", "--lab", lab, "r1", "--", "sh", "-c",
                    "ls /etc/frr; ps -o user=,args= ax | grep '[o]spfd -u'"))
    assert out.split()[:3] == ["daemons", "frr.conf", "vtysh.conf"], out
    daemons = [line.split()[:5] for line in out.splitlines()[3:]]
    assert daemons and all(x == ["root", "/usr/lib/frr/ospfd", "-u", "root", "-g"]
                           for x in daemons), out
    _ok(a.run("status", "--lab", lab))  # every service alive, kernel as planned


def test_dhcp_leases_and_writes_stay_in_the_node(deployed):
    a, names, _ = deployed
    lab = names["dhcp"]
    out = _ok(a.run("check", "--lab", lab))  # leases, reservation, default route (exit 0)
    assert "7/7 expectations passed" in out, out
    # dhclient wrote its lease in the node's /var/lib/dhcp, replaced /etc/dhcp's file
    # (the lab's own) and still sees the host's hook directories beside it.
    out = _ok(a.run("exec", "--lab", lab, "pc1", "--", "sh", "-c",
                    "ls /var/lib/dhcp; head -c 200 /etc/dhcp/dhclient.conf; ls /etc/dhcp;"
                    " ls -a /root"))  # the node's own home (the host's is 0700)
    assert "dhclient" in out and ".leases" in out, out
    assert "initial-interval 1;" in out and "dhclient-exit-hooks.d" in out, out
    assert not any(n.endswith(".leases") for n in os.listdir("/var/lib/dhcp"))
    assert "initial-interval 1;" not in Path("/etc/dhcp/dhclient.conf").read_text()
    assert not Path("/var/lib/misc/dnsmasq.leases").exists()


@pytest.mark.parametrize("bundled", OTHERS)
def test_other_routing_labs(deployed, bundled: str):
    """Every expectation of the bundled lab passes without root."""
    a, names, _ = deployed
    out = _ok(a.run("check", "--lab", names[bundled]))
    assert "expectations passed" in out and "failed" not in out, out


def test_destroy_leaves_the_host_as_it_was(deployed):
    """Last in this module: destroying the labs leaves no process of the user's and the
    host's FRR and DHCP directories and the files nodes replace exactly as before."""
    a, names, before = deployed
    for name in names.values():
        assert f"destroyed lab {name}" in _ok(a.run("destroy", name))
    assert a.pids() == [] or _settled(a)
    assert a.holder() is None
    after = _host()
    assert after == before, [t for t in WATCHED if after[t] != before[t]]


def _settled(u: User, wait: float = 5.0) -> bool:
    end = time.monotonic() + wait
    while time.monotonic() < end and u.pids():
        time.sleep(0.05)
    return not u.pids()


def test_frr_without_its_vty_group_is_refused_first(monkeypatch: pytest.MonkeyPatch):
    """FRR's daemons are started with -g frrvty (in both modes): a machine without that
    group (FRR from elsewhere than Debian's package) is told before anything is built."""
    import grp
    import tomllib

    from netlab.backends.kernel import preflight
    from netlab.topology.model import TopologyFile

    model = TopologyFile.model_validate(tomllib.loads((TOPOLOGIES / "ospf.toml").read_text()))
    assert preflight.frr_problems(model) == []  # Debian's frr made it here

    def missing(name: str) -> grp.struct_group:
        raise KeyError(name)

    monkeypatch.setattr(grp, "getgrnam", missing)
    (found,) = preflight.frr_problems(model)
    assert found.path == "lab.routing" and "group 'frrvty'" in found.message
    assert "groupadd --system frrvty" in found.fix
