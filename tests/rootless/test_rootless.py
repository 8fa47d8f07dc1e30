"""Labs without root (docs/rootless.md), as two real unprivileged users: every verb works,
each user's labs are out of the other's reach, names never collide, killing the holder
ends everything, and the host (root namespace, /etc, /run, net sysctls) is untouched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.rootless.conftest import User, lab_name, need_root
from tests.support import hostsnap


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def _host() -> dict[str, object]:
    """What a rootless lab must never change: the host's network namespace (links,
    addresses, routes, nft, net sysctls, ip netns), /etc, /etc/netns, /run, /run/netns."""
    snap = hostsnap.snapshot()
    return {"links": snap["links"], "addresses": snap.get("addresses"),
            "nft": snap["nft"], "sysctls": hostsnap.settings(),
            "etc": sorted(os.listdir("/etc")), "etc_netns": snap["etc_netns"],
            "run": sorted(os.listdir("/run")), "run_netns": snap["run_netns"],
            "ip_netns": snap["ip_netns"]}


def _held() -> set[str]:
    """Host sysctls that root labs (other tests' uplinks, pingalls) hold right now, from
    netlab's host-settings record: they may change meanwhile, by root's hand."""
    import json

    try:
        groups = json.loads(Path("/run/netlab-host/settings.json").read_text())["groups"]
    except (OSError, ValueError, KeyError):
        return set()
    return {"net." + k.replace("/", ".") for g in groups.values() for k in g.get("values", {})}


def _sysctl_changes(before: dict[str, object], after: dict[str, object],
                    held: set[str]) -> list[str]:
    def mine(k: str) -> bool:
        # ip_forward drags every forwarding and accept_redirects along (the kernel's doing)
        return k not in held and not ("net.ipv4.ip_forward" in held and (
            k.endswith(".forwarding") or k.endswith(".accept_redirects")))

    b = {k: v for k, v in before["sysctls"].items() if mine(k)}  # type: ignore[attr-defined]
    a = {k: v for k, v in after["sysctls"].items() if mine(k)}  # type: ignore[attr-defined]
    return hostsnap.settings_diff(b, a)


def _changes(before: dict[str, object], after: dict[str, object], names: list[str]) -> str:
    """Changes that mention one of our labs or users (others' root labs may come and go
    meanwhile, their own changes are not ours)."""
    return hostsnap.diff(before, after, only="|".join(names))


@pytest.mark.host_exclusive  # compares the host before and after
def test_every_verb_as_a_user_and_the_host_untouched(users: tuple[User, User], labfile):
    a, _ = users
    name = lab_name()
    path = labfile("natgw", name)  # a router with NAT (nftables) and an exec'd web server
    held = _held()
    before = _host()
    out = _ok(a.run("deploy", str(path)))
    assert f"deployed lab {name}" in out
    holder = a.holder()
    assert holder is not None and holder in a.pids()
    assert name in _ok(a.run("list"))
    _ok(a.run("status"))  # exit 0: the kernel matches the plan
    assert "2/2" in _ok(a.run("pingall")) or "reachable" in _ok(a.run("pingall"))
    _ok(a.run("check"))  # every expectation of natgw passes (exit 0)
    assert "0% packet loss" in _ok(a.run("ping", "pc1", "web", "-c", "1"))
    _ok(a.run("trace", "pc1", "web"))
    ip = _ok(a.run("exec", "pc1", "--", "ip", "-br", "addr"))
    assert "eth0" in ip
    assert _ok(a.run("exec", "pc1", "--", "hostname")).strip() == "pc1"
    sh = subprocess.run(["runuser", "-u", a.name, "--", "env", "-i", "SHELL=/bin/sh",
                         *(f"{k}={v}" for k, v in a.env().items()), sys.executable, "-m",
                         "netlab", "shell", "pc1"], input="hostname; exit 3\n",
                        capture_output=True, text=True, timeout=60, cwd="/")
    assert sh.returncode == 3 and "pc1" in sh.stdout, sh  # the shell's own exit status
    assert "open" in _ok(a.run("probe", "pc1", "web", "--tcp", "80")).lower()
    # capture sees a ping sent meanwhile
    cap = subprocess.Popen(["runuser", "-u", a.name, "--", "env", "-i",
                            *(f"{k}={v}" for k, v in a.env().items()), sys.executable,
                            "-m", "netlab", "capture", "pc1:eth0", "-c", "1", "-f", "icmp",
                            "--seconds", "30"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        assert cap.stderr is not None
        assert "capturing on" in cap.stderr.readline()  # listening from here on
        # (and another command of the user's runs while this one does)
        _ok(a.run("ping", "pc1", "web", "-c", "1"))
        assert "ICMP" in cap.communicate(timeout=40)[0]
    finally:
        cap.kill()
    _ok(a.run("link", "pc1", "lan", "down"))
    assert "100% packet loss" in a.run("ping", "pc1", "web", "-c", "1").stdout
    _ok(a.run("status"))  # a cut made with `netlab link` is not drift
    _ok(a.run("link", "pc1", "lan", "up"))
    _ok(a.run("graph", str(path), "-o", str(a.xdg / "lab.dot")))
    assert (a.xdg / "lab.dot").stat().st_uid == a.uid  # written as the user
    # Nothing of the lab shows on the host: no namespace, no /etc/netns entry, no state
    # in /run/netlab, no interface, no nft table, no sysctl changed.
    during = _host()
    assert not _changes(before, during, [name, a.name]), _changes(before, during, [name])
    held |= _held()
    assert _sysctl_changes(before, during, held) == []
    assert not any(n.startswith(name) for n in os.listdir("/run/netns"))
    assert not os.path.exists(f"/run/netlab/{name}")
    out = _ok(a.run("destroy", name))
    assert f"destroyed lab {name}" in out
    # The user's last lab is gone: so is the holder, and every process of the user.
    _gone(a, holder)
    after = _host()
    assert not _changes(before, after, [name, a.name])
    held |= _held()
    assert _sysctl_changes(before, after, held) == []


def _idle(u: User, wait: float = 5.0) -> None:
    """No holder and no process of the user's left (the holder ends just after the
    command that found no lab left)."""
    end = time.monotonic() + wait
    while time.monotonic() < end and u.pids():
        time.sleep(0.05)
    assert u.pids() == [] and u.holder() is None


def _gone(u: User, pid: int, wait: float = 5.0) -> None:
    end = time.monotonic() + wait
    while time.monotonic() < end and (pid in u.pids() or u.pids()):
        time.sleep(0.05)
    assert pid not in u.pids() and not u.pids(), f"left running: {u.pids()}"
    assert u.holder() is None


def test_users_cannot_reach_each_others_labs(users: tuple[User, User], labfile):
    a, b = users
    name = lab_name()
    path = labfile("two-hosts", name)
    _ok(a.run("deploy", str(path)))
    try:
        holder = a.holder()
        assert holder
        # B sees no lab, and cannot name A's.
        assert name not in b.run("list").stdout
        for verb in (["status", "--lab", name], ["exec", "--lab", name, "h1", "--", "true"],
                     ["ping", "--lab", name, "h1", "h2"], ["check", "--lab", name],
                     ["link", "--lab", name, "h1", "h2", "down"],
                     ["probe", "--lab", name, "h1", "h2", "--tcp", "22"],
                     ["capture", "--lab", name, "h1:eth0", "--seconds", "0.1"],
                     ["shell", "--lab", name, "h1"]):
            r = b.run(*verb)
            assert r.returncode != 0, (verb, r.stdout, r.stderr)
            assert f"no lab {name}" in r.stderr or "no lab is deployed" in r.stderr or \
                "not deployed" in r.stderr, (verb, r.stderr)
        r = b.run("destroy", name)
        assert "nothing to destroy" in (r.stdout + r.stderr), r
        # B's own tools get nowhere either: A's state directory, A's holder's namespaces.
        assert b.cmd("ls", str(a.state)).returncode != 0
        assert b.cmd("nsenter", "-t", str(holder), "-U", "-m", "-n", "true").returncode != 0
        assert b.cmd("cat", f"/proc/{holder}/ns/net").returncode != 0
        # Same lab name for B: its own lab, not a collision.
        _ok(b.run("deploy", str(path)))
        assert b.holder() != holder
        _ok(b.run("exec", "h1", "--", "ip", "link", "set", "eth0", "down"))
        # B's change is B's: A's lab is as planned.
        _ok(a.run("status"))
        r = b.run("status")
        assert r.returncode == 1 and "down" in r.stdout + r.stderr
        _ok(b.run("destroy", name))
        _ok(a.run("check"))  # A's lab still works after B destroyed its namesake
    finally:
        a.run("destroy", "--all")
        b.run("destroy", "--all")


def test_killing_the_holder_ends_the_labs_and_the_next_command_cleans_up(
        users: tuple[User, User], labfile):
    a, _ = users
    first, second = lab_name(), lab_name()
    _ok(a.run("deploy", str(labfile("natgw", first))))  # with a web server running
    _ok(a.run("deploy", str(labfile("two-hosts", second))))
    holder = a.holder()
    assert holder
    pids = a.pids()
    assert len(pids) >= 2  # the holder and the lab's web server at least
    os.kill(holder, 9)
    end = time.monotonic() + 5
    while a.pids() and time.monotonic() < end:
        time.sleep(0.05)
    assert a.pids() == []  # the kernel ended every process in the PID namespace
    r = a.run("list")
    _ok(r)
    assert "no lab is deployed" in r.stdout
    assert "ended with it" in r.stderr and first in r.stderr and second in r.stderr
    assert sorted(os.listdir(a.state / "labs")) == sorted(
        n for n in os.listdir(a.state / "labs") if n.startswith("."))  # only lock files
    _idle(a)


def test_uplink_is_refused_before_anything_is_built(users: tuple[User, User], labfile):
    a, _ = users
    name = lab_name()
    path = labfile("two-hosts", name, '\n[uplink]\nnode = "h1"\n')
    # Without slirp4netns (none on this PATH): refused, the fix naming the package
    # (test_uplink.py has the uplink that works when it is installed).
    netlab = ("env", "PATH=/nonexistent", sys.executable, "-m", "netlab")
    r = a.cmd(*netlab, "validate", str(path))
    assert r.returncode == 2 and "uplink" in r.stderr and "slirp4netns" in r.stderr, r.stderr
    r = a.cmd(*netlab, "deploy", str(path))
    assert r.returncode == 2, r
    assert "apt-get install slirp4netns" in r.stderr
    assert "uplink" in r.stderr and "remove the [uplink] section" in r.stderr
    _idle(a)


@pytest.mark.root  # the host lock: run beside other root tests, never an exclusive one
def test_root_with_rootless_flag(tmp_path: Path, labfile) -> None:
    """Root can ask for the rootless mode: the lab then lives in root's own user
    namespace, not in /run/netlab and /run/netns."""
    need_root()
    name = lab_name()
    path = labfile("two-hosts", name)
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(xdg)}
    env.pop("NETLAB_RUN_DIR", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "netlab", "--rootless", *args],
                              capture_output=True, text=True, env=env, timeout=120)

    try:
        _ok(run("deploy", str(path)))
        assert not os.path.exists(f"/run/netlab/{name}")
        assert not any(n.startswith(name) for n in os.listdir("/run/netns"))
        assert name in _ok(run("list"))
        _ok(run("check", "--lab", name))
    finally:
        run("destroy", "--all")
    assert not (xdg / "netlab" / "holder.json").exists()


MACHINES = """
[lab]
name = "{name}"
[nodes.a]
startup = ["sh /root/run.sh"]
exec = ["sleep 300"]
pid = true
[nodes.a.files]
"/etc/motd" = "hello from a\\n"
"/root/run.sh" = {{content = "echo ran > /tmp/ran\\n", mode = 0o755}}
[nodes.b]
[[links]]
endpoints = ["a", "b"]
"""


def test_node_machines_work_in_the_user_namespace(users: tuple[User, User]):
    """Each node's private machine (docs/machines.md: overlays, fresh /run and /tmp, a PID
    namespace, the plan's files and startup commands) inside the user's namespace."""
    a, _ = users
    name = lab_name()
    d = Path(f"/tmp/{name}-topo")
    d.mkdir(mode=0o755)
    try:
        path = d / "m.toml"
        path.write_text(MACHINES.format(name=name))
        path.chmod(0o644)
        _ok(a.run("deploy", str(path)))
        out = _ok(a.run("exec", "a", "--", "sh", "-c",
                        "cat /etc/motd /tmp/ran; ps -o pid=,args= ax; echo new > /etc/new;"
                        " cat /etc/new; rm /etc/new; mkdir /root/d && echo made"))
        assert "hello from a" in out and "ran" in out and "new" in out and "made" in out
        pids = {line.split(None, 1)[1].strip(): int(line.split()[0])
                for line in out.splitlines() if line.strip()[:1].isdigit()}
        assert pids.get("/bin/sh -c sleep 300", 99) < 20  # a's own PID namespace
        # b sees none of a's files; the host's /etc has none of them
        out = a.run("exec", "b", "--", "sh", "-c", "cat /etc/motd; ls /tmp").stdout
        assert "hello from a" not in out and "ran" not in out
        assert "hello from a" not in Path("/etc/motd").read_text()
        _ok(a.run("status"))
        holder = a.holder()
        _ok(a.run("destroy", name))
        assert holder is not None
        _gone(a, holder)
    finally:
        a.run("destroy", "--all")
        shutil.rmtree(d, ignore_errors=True)
