"""The uplink without root (docs/rootless.md, "Internet access"): slirp4netns gives the
uplink node a tap whose far side is the host's loopback at 10.0.2.2. As a real
unprivileged user: a node behind the uplink node reaches a server this test starts on
the host's 127.0.0.1 (never any outside address), destroy and the holder's death both end
slirp4netns (checked by pid), and what cannot work says so before anything is built."""

from __future__ import annotations

import contextlib
import http.server
import os
import secrets
import shutil
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.backends.userns import uplink
from tests.rootless.conftest import User, lab_name, need_root
from tests.support import hostsnap

# A router with the uplink and a PC behind it: the PC reaches the host only through gw's
# masquerade and its default route (auto routing), as with root.
LAB = """
[lab]
name = "{name}"
[nodes.gw]
kind = "router"
[nodes.pc]
[[links]]
endpoints = ["gw", "pc"]
subnet = "192.168.77.0/30"
[uplink]
node = "gw"
{extra}
"""

_XATTR = "system.posix_acl_access"


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def tun(users: tuple[User, User]) -> Iterator[None]:
    """/dev/net/tun is 0600 on this VM (most distributions make it 0666): user A (only)
    gets read and write on it through an ACL entry for this module, taken back after."""
    if not uplink.helper() or not os.path.exists(uplink.TUN):
        pytest.skip("slirp4netns and /dev/net/tun needed (apt-get install slirp4netns)")
    a, _ = users
    mode = os.stat(uplink.TUN).st_mode & 0o7777
    try:
        old: bytes | None = os.getxattr(uplink.TUN, _XATTR)
    except OSError:
        old = None
    entries = [(0x01, (mode >> 6) & 7, 0xFFFFFFFF), (0x02, 6, a.uid),
               (0x04, (mode >> 3) & 7, 0xFFFFFFFF), (0x10, ((mode >> 3) & 7) | 6, 0xFFFFFFFF),
               (0x20, mode & 7, 0xFFFFFFFF)]
    os.setxattr(uplink.TUN, _XATTR, struct.pack("<I", 2)
                + b"".join(struct.pack("<HHI", *e) for e in entries))
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if old is None:
                os.removexattr(uplink.TUN, _XATTR)
            else:
                os.setxattr(uplink.TUN, _XATTR, old)
        os.chmod(uplink.TUN, mode)


@pytest.fixture
def labdir() -> Iterator[Path]:
    d = Path(f"/tmp/nlr-up-{secrets.token_hex(4)}")
    d.mkdir(mode=0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _write(d: Path, name: str, extra: str = "") -> Path:
    p = d / f"{name}.toml"
    p.write_text(LAB.format(name=name, extra=extra))
    p.chmod(0o644)
    return p


@pytest.fixture
def deployed(users: tuple[User, User], labdir: Path) -> Iterator[list[tuple[User, str]]]:
    """Labs a test deployed, destroyed at the end even if it failed."""
    made: list[tuple[User, str]] = []
    try:
        yield made
    finally:
        for u, name in made:
            u.run("destroy", name)


class _Server:
    """An HTTP server on the host's 127.0.0.1 (a random port), answering a secret body;
    it notes the peers it saw."""

    def __init__(self) -> None:
        self.body = secrets.token_hex(8).encode()
        self.peers: list[str] = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.peers.append(self.client_address[0])
                self.send_response(200)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    try:
        yield s
    finally:
        s.close()


def _slirps(u: User) -> list[int]:
    """The user's slirp4netns processes (listed by uid and comm, never killed by name)."""
    out = []
    for pid in u.pids():
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == "slirp4netns":
                out.append(pid)
    return out


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def _fetch(u: User, node: str, port: int) -> subprocess.CompletedProcess[str]:
    code = (f"import urllib.request as r; print(r.urlopen('http://{uplink.GATEWAY}:{port}/',"
            " timeout=5).read().decode())")
    return u.run("exec", node, "--", "python3", "-c", code)


def _host() -> dict[str, object]:
    snap = hostsnap.snapshot()
    return {k: snap.get(k) for k in ("links", "addresses", "routes", "nft", "run_netns",
                                     "etc_netns", "ip_netns")}


def _changes(before: dict[str, object], after: dict[str, object], name: str) -> str:
    """Changes of the host's that could be this lab's uplink (others' root labs come and
    go meanwhile)."""
    return hostsnap.diff(before, after, only=f"{name}|slirp|10\\.0\\.2\\.")


def test_a_node_behind_the_uplink_reaches_the_hosts_loopback(
        users: tuple[User, User], tun: None, labdir: Path, deployed: list[tuple[User, str]],
        server: _Server) -> None:
    a, _ = users
    name = lab_name()
    # netlab's own probe too: an HTTP GET from the PC to the host's server.
    path = _write(labdir, name, f'[[expect]]\nfrom = "pc"\nto = "{uplink.GATEWAY}"\n'
                  f'proto = "http"\nport = {server.port}\n'
                  f'http = {{ body = "{server.body.decode()}" }}\n')
    before = _host()
    assert _slirps(a) == []
    _ok(a.run("validate", str(path)))
    deployed.append((a, name))
    _ok(a.run("deploy", str(path)))
    slirps = _slirps(a)
    assert len(slirps) == 1, slirps
    # The PC (masqueraded by gw, default route via gw) and gw itself reach the server on
    # the host's 127.0.0.1 through 10.0.2.2; slirp4netns connects from the loopback.
    assert _ok(_fetch(a, "pc", server.port)).strip() == server.body.decode()
    assert _ok(_fetch(a, "gw", server.port)).strip() == server.body.decode()
    assert server.peers and set(server.peers) == {"127.0.0.1"}
    assert "1/1 expectations passed" in _ok(a.run("check", "--lab", name))
    # gw's side is as planned: the tap with slirp4netns's address, the default route.
    shown = _ok(a.run("exec", "gw", "--", "ip", "-4", "-o", "addr", "show", "dev", "uplink"))
    assert uplink.NODE_ADDRESS in shown, shown
    routes = _ok(a.run("exec", "gw", "--", "ip", "route", "show", "default"))
    assert f"default via {uplink.GATEWAY} dev uplink" in routes, routes
    status = a.run("status", "--lab", name)
    assert status.returncode == 0, status.stdout + status.stderr  # healthy: no drift
    assert f"{uplink.COMMAND}: host pid {slirps[0]}" in status.stdout, status.stdout
    plan = _ok(a.run("plan", str(path)))
    assert "uplink gw:uplink" in plan
    # Nothing of the host changed (no veth, address, route or nft table of the lab).
    assert _changes(before, _host(), name) == ""
    _ok(a.run("destroy", name))
    deployed.clear()
    assert _gone(slirps[0]), f"slirp4netns {slirps[0]} still runs after destroy"
    assert _slirps(a) == []
    assert _changes(before, _host(), name) == ""


def test_the_holders_death_ends_slirp4netns(
        users: tuple[User, User], tun: None, labdir: Path,
        deployed: list[tuple[User, str]], server: _Server) -> None:
    a, _ = users
    name = lab_name()
    deployed.append((a, name))
    _ok(a.run("deploy", str(_write(labdir, name))))
    slirps = _slirps(a)
    assert len(slirps) == 1 and _ok(_fetch(a, "pc", server.port)).strip()
    holder = a.holder()
    assert holder
    os.kill(holder, signal.SIGKILL)
    assert _gone(slirps[0]), "slirp4netns outlived the holder"
    r = a.run("list")  # notices, cleans up
    assert r.returncode == 0 and name in r.stderr, r
    deployed.clear()
    assert _slirps(a) == []


def test_a_failed_uplink_removes_the_lab(users: tuple[User, User], tun: None,
                                         labdir: Path,
                                         deployed: list[tuple[User, str]]) -> None:
    """slirp4netns refusing (a tap name the node already has: the keeper never starts)
    rolls the whole lab back, says why, and leaves no slirp4netns behind."""
    a, _ = users
    name = lab_name()
    path = _write(labdir, name)
    # The compiler refuses an uplink name that clashes with a planned interface, so the
    # clash is made by a startup command: a bridge named as the uplink's tap.
    path.write_text(path.read_text().replace('node = "gw"', 'node = "gw"\nifname = "br9"')
                    .replace('kind = "router"', 'kind = "router"\nstartup = ["ip link add'
                                                ' br9 type bridge"]'))
    deployed.append((a, name))
    r = a.run("deploy", str(path))
    assert r.returncode == 1, r
    assert "uplink (slirp4netns)" in r.stderr and "nothing was built" in r.stderr, r.stderr
    assert name not in _ok(a.run("list"))
    assert _slirps(a) == []


def test_refusals_before_anything_is_built(users: tuple[User, User], tun: None,
                                           labdir: Path) -> None:
    a, b = users
    name = lab_name()
    path = _write(labdir, name)
    # Not installed (not on PATH): the fix names the package.
    r = a.cmd("env", "PATH=/nonexistent", *_netlab(), "validate", str(path))
    assert r.returncode == 2, r
    assert "slirp4netns is not installed" in r.stderr
    assert f"apt-get install {uplink.PACKAGE}" in r.stderr, r.stderr
    # B may not open /dev/net/tun (0600 here): said, with the fix.
    r = b.run("deploy", str(path))
    assert r.returncode == 2 and "/dev/net/tun" in r.stderr and "chmod 0666" in r.stderr, r
    assert b.holder() is None or name not in _ok(b.run("list"))
    # What cannot apply without root: a host-side subnet, labs reaching each other, an
    # address inside slirp4netns's network.
    bad = _write(labdir, lab_name(), 'subnet = "100.64.9.0/30"\nisolated = false')
    r = a.run("deploy", str(bad))
    assert r.returncode == 2, r
    assert "uplink.subnet" in r.stderr and "uplink.isolated" in r.stderr, r.stderr
    clash = labdir / "clash.toml"
    clash.write_text(LAB.format(name=name, extra="").replace("192.168.77.0/30",
                                                             "10.0.2.0/30"))
    clash.chmod(0o644)
    r = a.run("validate", str(clash))
    assert r.returncode == 2 and "10.0.2.0/24" in r.stderr, r.stderr
    assert _slirps(a) == []


def _netlab() -> list[str]:
    import sys

    return [sys.executable, "-m", "netlab"]


def test_plan_rewrite_units() -> None:
    """rootless_plan: slirp4netns's addresses, the node's uplink route via 10.0.2.2;
    inner_plan: neither the uplink nor that route (made after the tap exists)."""
    need_root()
    from netlab import api
    from netlab.backends.kernel.backend import KernelBackend

    d = Path(f"/tmp/nlr-up-{secrets.token_hex(4)}")
    d.mkdir()
    try:
        plan = api.load(_write(d, "u" + secrets.token_hex(3)), backend=KernelBackend()).plan
    finally:
        shutil.rmtree(d)
    p = uplink.rootless_plan(plan)
    assert p.uplink is not None and p.uplink.node_address == uplink.NODE_ADDRESS
    gw = next(n for n in p.nodes if n.name == "gw")
    assert [(r.to, r.via) for r in gw.routes if r.origin == "uplink"] == \
        [("default", uplink.GATEWAY)]
    assert uplink.rootless_plan(p) is p
    inner = uplink.inner_plan(p)
    assert inner.uplink is None
    assert not [r for n in inner.nodes for r in n.routes if r.origin == "uplink"]
