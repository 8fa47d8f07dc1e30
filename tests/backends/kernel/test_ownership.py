"""Ownership that cannot be confused, and never falling back to the host (issue 10).

netlab proves a namespace is its own by its cookie (never reused) or by the marker it
writes inside it, never by the nsfs inode number, which the kernel hands out again as soon
as a namespace is freed. These tests make the kernel reuse a journaled inode number for a
foreign namespace (or, if other processes keep taking the freed number, write the foreign
inode into the journal: the same situation), kill a deploy between journaling a
placeholder and creating it, lose a lab's state, and remove a node's namespaces under a
running lab. The kernel's `ip netns` is the witness of what survives.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import host, topogen
from tests.support.cli import no_traceback
from tests.support.cli import run as cli
from tests.support.names import run_prefix

pytestmark = pytest.mark.root

P = run_prefix("t5")  # this run's lab names: two runs at once never share one

NATGW = (topogen.TOPOLOGIES / "natgw.toml").read_text()
TWO = '[lab]\nname = "{name}"\n[nodes.a]\n[nodes.b]\n[[links]]\nendpoints = ["a", "b"]\n'


def _name() -> str:
    return f"{P}o" + secrets.token_hex(2)


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def _ino(path: str) -> int:
    return os.stat(path).st_ino


def _netns_list() -> set[str]:
    """The kernel's own witness: `ip netns list`."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


class Foreign:
    """Namespaces and processes made by hand, removed at the end whatever happens."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def netns(self, name: str) -> str:
        _sh("ip", "netns", "add", name)
        self.names.append(name)
        return name

    def process_in(self, name: str) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(["ip", "netns", "exec", name, "sleep", "300"])
        self.procs.append(p)
        want = os.stat(f"/run/netns/{name}").st_ino
        assert host.wait_for(lambda: _net_ino(p.pid) == want, 5, 0.01), "not started"
        return p

    def with_inode(self, ino: int, stem: str, timeout: float = 5.0) -> str | None:
        """A foreign namespace that got inode number `ino` (freed by the kernel moments
        ago): namespaces are made until one does. Those that do not are kept meanwhile,
        so that each new one gets the next free number. None if others took it first."""
        end = time.monotonic() + timeout
        i = 0
        while time.monotonic() < end:
            name = self.netns(f"{stem}{i}")
            if _ino(f"/run/netns/{name}") == ino:
                return name
            i += 1
            time.sleep(0.01)
        return None

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()
        for name in reversed(self.names):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _net_ino(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


@pytest.fixture
def foreign() -> Iterator[Foreign]:
    f = Foreign()
    try:
        yield f
    finally:
        f.close()


def _journal(lab: str) -> list[dict]:  # type: ignore[type-arg]
    path = host.run_dir() / lab / "created.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write_journal(lab: str, entries: list[dict]) -> None:  # type: ignore[type-arg]
    path = host.run_dir() / lab / "created.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))


def _deploy(labs, text: str, name: str) -> Path:  # type: ignore[no-untyped-def]
    file = labs.write(name, text)
    r = cli("deploy", str(file))
    assert r.returncode == 0, r.stderr
    return file


# --- the kernel reuses inode numbers -----------------------------------------------------


def test_foreign_namespace_with_a_reused_inode_and_its_process_survive(labs, foreign) -> None:  # type: ignore[no-untyped-def]
    """`ip netns del LAB-a`, then a foreign namespace gets the freed inode number (for
    real when the kernel hands it out again in time, else written into the journal) with
    a process in it: destroy removes the rest of the lab and leaves both alone."""
    lab = _name()
    _deploy(labs, TWO.format(name=lab), lab)
    old = _ino(f"/run/netns/{lab}-a")
    _sh("ip", "netns", "del", f"{lab}-a")
    other = foreign.with_inode(old, f"{lab}x")
    if other is None:  # others took the number: put the foreign one in the journal
        other = foreign.names[-1]
        entries = _journal(lab)
        for e in entries:
            if e.get("path") == f"/run/netns/{lab}-a":
                e["ino"] = _ino(f"/run/netns/{other}")
        _write_journal(lab, entries)
    proc = foreign.process_in(other)
    r = cli("destroy", lab)
    assert r.returncode == 0 and no_traceback(r), r.stderr
    assert proc.poll() is None, "destroy killed a process in a foreign namespace"
    assert other in _netns_list()
    assert f"{lab}-b" not in _netns_list()


def test_namespace_recreated_by_hand_with_the_same_inode_is_left_alone(labs, foreign) -> None:  # type: ignore[no-untyped-def]
    """The lab's name pinned again by hand, on a namespace with the journaled inode
    number: status says it is not netlab's, destroy leaves it (and its process)."""
    lab = _name()
    _deploy(labs, TWO.format(name=lab), lab)
    path = f"/run/netns/{lab}-a"
    old = _ino(path)
    _sh("ip", "netns", "del", f"{lab}-a")
    donor = foreign.with_inode(old, f"{lab}y")
    foreign.names.append(f"{lab}-a")  # removed at the end, whatever happens
    if donor is None:
        _sh("ip", "netns", "add", f"{lab}-a")
        entries = _journal(lab)
        for e in entries:
            if e.get("path") == path:
                e["ino"] = _ino(path)
        _write_journal(lab, entries)
    else:  # the same namespace (same inode) pinned under the lab's name too
        Path(path).touch()
        _sh("mount", "--bind", f"/run/netns/{donor}", path)
    assert _ino(path) == old or donor is None
    proc = foreign.process_in(f"{lab}-a")
    r = cli("status", "--lab", lab)
    assert r.returncode == 1 and "not the one netlab created" in r.stdout, r.stdout
    r = cli("destroy", lab)
    assert r.returncode == 0 and no_traceback(r), r.stderr
    assert f"{lab}-a" in r.stderr  # said it left it alone
    assert f"{lab}-a" in _netns_list() and proc.poll() is None
    assert f"{lab}-b" not in _netns_list()


# --- a deploy killed between journaling a placeholder and creating it ---------------------

KILL_AT = """
import os, runpy, signal, sys
from netlab.linux import namespaces
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
if sys.argv[1] == "placeholder":
    namespaces.placeholder = die
else:
    os.link = die
sys.argv = ["netlab", "deploy", sys.argv[2]]
runpy.run_module("netlab", run_name="__main__")
"""


@pytest.mark.parametrize("where", ["placeholder", "link"])
def test_placeholder_journaled_then_taken_by_someone_else(labs, foreign, where) -> None:  # type: ignore[no-untyped-def]
    """Deploy SIGKILLed right after journaling a placeholder, before making it (the first
    one, or a hard link); someone then makes a namespace at that name. Destroy removes
    what netlab made and leaves the foreign namespace and its process."""
    lab = _name()
    file = labs.write(lab, TWO.format(name=lab))
    r = subprocess.run([sys.executable, "-c", KILL_AT, where, str(file)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == -signal.SIGKILL, r.stderr
    taken = [e["path"] for e in _journal(lab) if e["kind"] == "placeholder"][-1]
    name = os.path.basename(taken)
    assert not os.path.lexists(taken)
    foreign.netns(name)
    proc = foreign.process_in(name)
    r = cli("destroy", lab)
    assert r.returncode == 0 and no_traceback(r), r.stderr
    assert name in _netns_list() and proc.poll() is None, "destroy removed a foreign namespace"
    assert [n for n in host.netns_names() if n.startswith(f"{lab}-") and n != name] == []


def test_namespace_pinned_but_not_journaled_is_proven_by_its_marker(labs) -> None:  # type: ignore[no-untyped-def]
    """Deploy killed between mounting namespaces and journaling them (the `netns` lines
    missing): destroy proves them by the marker inside and removes them."""
    lab = _name()
    _deploy(labs, TWO.format(name=lab), lab)
    _write_journal(lab, [e for e in _journal(lab) if e["kind"] != "netns"])
    r = cli("destroy", lab)
    assert r.returncode == 0 and no_traceback(r), r.stderr
    assert host.settled_leftovers(lab) == []


# --- never falling back to the host ------------------------------------------------------


def _exec_witness(lab: str, node: str, witness: Path) -> tuple[BaseException | None,
                                                                 subprocess.CompletedProcess[str]]:
    """Lab.exec and `netlab exec` of a command that leaves a file if it runs at all."""
    from netlab.lab import Lab

    argv = ["/bin/sh", "-c", f"readlink /proc/self/ns/net > {witness}"]
    err: BaseException | None = None
    try:
        Lab.attach(lab).exec(node, argv)
    except Exception as e:  # noqa: BLE001 - examined by the caller
        err = e
    return err, cli("exec", "--lab", lab, node, "--", *argv)


def test_exec_in_a_node_whose_namespace_is_gone_never_runs_in_the_host(labs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from netlab.errors import NamespaceGone

    lab = _name()
    _deploy(labs, TWO.format(name=lab), lab)
    _sh("ip", "netns", "del", f"{lab}-a")
    witness = tmp_path / "ran"
    err, r = _exec_witness(lab, "a", witness)
    assert isinstance(err, NamespaceGone), err
    assert f"/run/netns/{lab}-a" in str(err) and "host" in str(err)
    assert r.returncode == 1 and no_traceback(r), r.stderr
    assert str(err) in r.stderr  # one message, whichever way in
    assert not witness.exists(), f"ran in {witness.read_text()}: the host's namespace"


def test_missing_uts_pin_refuses_exec_and_is_drift(labs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from netlab.errors import NamespaceGone

    lab = _name()
    _deploy(labs, TWO.format(name=lab), lab)
    pin = host.run_dir() / lab / "uts" / "a"
    _sh("umount", str(pin))
    pin.unlink()
    witness = tmp_path / "ran"
    err, r = _exec_witness(lab, "a", witness)
    assert isinstance(err, NamespaceGone) and "UTS namespace" in str(err), err
    assert r.returncode == 1 and no_traceback(r) and "UTS namespace" in r.stderr, r.stderr
    assert not witness.exists(), "ran in the host's UTS namespace"
    r = cli("status", "--lab", lab, "--json")
    assert r.returncode == 1, r.stdout
    drift = json.loads(r.stdout)["drift"]
    assert any("UTS namespace" in d and "node a" in d for d in drift), drift
    r = cli("destroy", lab)
    assert r.returncode == 0 and host.settled_leftovers(lab) == []


# --- destroy without state -------------------------------------------------------------


@pytest.mark.parametrize("lost", ["journal", "plan-and-journal", "state-directory"])
def test_destroy_without_state_removes_exactly_the_lab(labs, foreign, lost) -> None:  # type: ignore[no-untyped-def]
    """The journal, or the plan and journal, or the whole state directory are gone:
    destroy still finds the lab by the marker in its namespaces (among the plan's names,
    or in all of /run/netns) and removes them, their processes and their /etc/netns
    entries; a foreign namespace named like the lab's, with a process, and an empty
    /etc/netns directory made by hand survive."""
    lab = _name()
    text = topogen.with_exec(topogen.renamed(NATGW, lab), "pc1",
                             f"exec python3 -c 'import time; time.sleep(3600)'"
                             f" {host.marker(lab)}")
    file = _deploy(labs, text, lab)
    planned = {n for n in host.netns_names() if n.startswith(f"{lab}-")}
    assert len(planned) == 5 and host.marked_pids(lab)
    etc = {p.name for p in host.ETC_NETNS.iterdir() if p.name.startswith(f"{lab}-")}
    assert etc, "natgw writes DNS files"
    other = foreign.netns(f"{lab}-x")
    proc = foreign.process_in(other)
    hand = host.ETC_NETNS / f"{lab}-x"
    hand.mkdir()
    try:
        d = host.run_dir() / lab
        if lost != "state-directory":
            (d / "created.jsonl").unlink()
            if lost == "plan-and-journal":
                (d / "plan.json").unlink()
        else:
            host.unmount_all(d)
            subprocess.run(["rm", "-rf", "--", str(d)], check=True)
        if lost == "state-directory":  # deploy refuses, and says what to do
            r = cli("deploy", str(file))
            assert r.returncode == 2 and f"netlab destroy {lab}` removes it" in r.stderr, \
                r.stderr
        r = cli("destroy", lab)
        assert r.returncode == 0 and no_traceback(r), r.stderr
        assert "5 namespaces" in r.stdout, r.stdout
        left = _netns_list()
        assert not planned & left, f"left {planned & left}"
        assert host.wait_for(lambda: not host.marked_pids(lab), 2, 0.01)
        assert not {p.name for p in host.ETC_NETNS.iterdir()} & etc
        assert other in left and proc.poll() is None and hand.is_dir()
        r = cli("destroy", lab)
        assert r.returncode == 0 and "nothing to destroy" in r.stdout, r.stdout
        assert other in _netns_list() and hand.is_dir()
    finally:
        hand.rmdir()


def test_proving_a_namespace_never_moves_the_main_thread(monkeypatch: pytest.MonkeyPatch,
                                                         ) -> None:
    """Reading a namespace's cookie and marker happens in another thread: the main
    thread's namespace is what /proc/<pid>/ns/net shows, and a process seen inside a lab's
    namespace is ended by that lab's destroy (a destroy scanning /run/netns was SIGKILLed
    by another lab's destroy running at the same moment)."""
    import threading

    from netlab.linux import netns, ownership

    name = f"{P}m" + secrets.token_hex(2)
    _sh("ip", "netns", "add", name)
    try:
        moved: list[str] = []
        real = netns.setns

        def spy(fd: int, nstype: int = 0) -> None:
            if threading.current_thread() is threading.main_thread():
                moved.append(os.readlink(f"/proc/self/fd/{fd}"))
            real(fd, nstype)

        monkeypatch.setattr(netns, "setns", spy)
        h = ownership.hold(f"/run/netns/{name}")
        assert h is not None and h.cookie > 0
        h.release()
        assert moved == []
    finally:
        _sh("ip", "netns", "del", name)


def test_destroy_without_state_leaves_a_same_named_lab_of_another_run_directory(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Two run directories (NETLAB_RUN_DIR), a lab of the same name in each under its own
    prefix; the second's state is lost. Its destroy finds its own namespaces by their
    markers and never the first one's, which stays whole until its own destroy."""
    lab = _name()
    dirs = {k: tmp_path_factory.mktemp(f"run{k}") for k in "ab"}
    env = {k: {**os.environ, "NETLAB_RUN_DIR": str(d)} for k, d in dirs.items()}
    text = TWO.replace("{name}", lab)
    files = {}
    for k in "ab":
        files[k] = tmp_path_factory.mktemp(f"topo{k}") / f"{lab}.toml"
        files[k].write_text(text.replace("[nodes.a]", f'prefix = "{lab}{k}"\n[nodes.a]'))
    try:
        for k in "ab":
            r = cli("deploy", str(files[k]), env=env[k])
            assert r.returncode == 0, r.stderr
        mine = {f"{lab}{k}-{n}" for k in "ab" for n in "ab"}
        assert mine <= _netns_list()
        host.unmount_all(dirs["b"] / lab)
        subprocess.run(["rm", "-rf", "--", str(dirs["b"] / lab)], check=True)
        r = cli("destroy", lab, env=env["b"])
        assert r.returncode == 0 and "2 namespaces" in r.stdout, r.stdout + r.stderr
        assert {f"{lab}a-a", f"{lab}a-b"} <= _netns_list()
        assert not {f"{lab}b-a", f"{lab}b-b"} & _netns_list()
        r = cli("destroy", lab, env=env["a"])
        assert r.returncode == 0 and not mine & _netns_list(), r.stdout + r.stderr
    finally:
        for k in "ab":
            cli("destroy", lab, env=env[k])
            host.unmount_all(dirs[k])
