"""Kernel failures: a failure injected at each backend step (netlink error, nft failure,
ENOSPC, EEXIST, EPERM, ...) ends in a clear message, exit 1, and complete rollback.

Injection is in-process: the backend's kernel-touching functions are wrapped, a clean
deploy records which are called and how often, then each is made to fail at its first,
middle and last call in turn. The list adapts to the backend as it changes; a function
named here that no longer exists is simply not wrapped. Two failures come from the real
kernel instead: a name taken by a foreign object between precheck and creation, and a
state directory with no space left (NETLAB_RUN_DIR on a tiny tmpfs).
"""

from __future__ import annotations

import errno
import importlib
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.support import host, hostsnap, topogen
from tests.support.cli import no_traceback
from tests.support.cli import run as cli
from tests.support.host import settled_leftovers
from tests.support.names import run_prefix

pytestmark = pytest.mark.root

P = run_prefix("t5")  # this run's lab names: two runs at once never share one

NATGW = (topogen.TOPOLOGIES / "natgw.toml").read_text()

# (module, attribute) -> what the real failure would raise
_OS = {
    "placeholder": errno.ENOSPC, "pin": errno.EEXIST, "create": errno.EEXIST,
    "mount": errno.EPERM, "mount_tmpfs": errno.ENOSPC, "write_sysctl": errno.EPERM,
    "ensure_run_dirs": errno.EPERM, "open_socket": errno.EMFILE, "_write_files": errno.ENOSPC,
    "start": errno.ENOENT, "write_plan": errno.ENOSPC, "open": errno.ENOSPC,
    "add_many": errno.ENOSPC, "link_index": errno.ENOBUFS, "dump": errno.ENOBUFS,
}
TARGETS = [
    ("netlab.linux.namespaces", ["placeholder", "pin", "create"]),
    ("netlab.linux.mounts", ["mount", "mount_tmpfs", "ensure_run_dirs"]),
    ("netlab.linux.sysctl", ["write_sysctl"]),
    ("netlab.linux.netlink", ["open_socket", "link_index", "dump", "Batch.flush"]),
    ("netlab.linux.nft", ["load"]),
    ("netlab.backends.kernel.files", ["_write_files"]),
    ("netlab.backends.kernel.procs", ["start"]),
    ("netlab.backends.kernel.uplink", ["enable_host"]),
    ("netlab.state.plans", ["write_plan"]),
    ("netlab.state.journal", ["Record.open", "Record.add_many"]),
]
# Steps the natgw-with-uplink deploy below must reach: a step renamed or no longer called
# fails the test instead of silently dropping out of it. (Shaping is covered by
# tests/backends/kernel/test_links_live.py; this lab has no shaped link.)
MUST_REACH = {f"{m}.{a}" for m, attrs in TARGETS for a in attrs} - {"netlab.linux.netlink.dump"}

def _error_for(name: str) -> BaseException:
    """The exception the real step raises when the kernel (or disk) says no."""
    short = name.rsplit(".", 1)[-1]
    if name == "netlab.linux.netlink.Batch.flush":
        from netlab.linux.netlink import NetlinkError

        return NetlinkError("in netns host: create veth x: File exists (injected)")
    if name == "netlab.linux.nft.load":
        from netlab.linux.nft import NftError

        return NftError("nft rejected the ruleset of node gw: Error: injected")
    code = _OS.get(short, errno.EIO)
    return OSError(code, os.strerror(code) + " (injected)")


class Injector:
    """Wraps the target functions; counts calls, and fails call number `fail_at` of
    function `fail_name` (only while armed, i.e. during deploy, not during rollback)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls: Counter[str] = Counter()
        self.fail_name: str | None = None
        self.fail_at = 0
        self.fired = False
        self.paused = False
        # validate's preflight tries sysctls in a scratch namespace: not a deploy step
        from netlab.backends.kernel import preflight

        real_check = preflight.sysctl_problems

        def unarmed(*args: Any, **kw: Any) -> Any:
            self.paused = True
            try:
                return real_check(*args, **kw)
            finally:
                self.paused = False

        monkeypatch.setattr(preflight, "sysctl_problems", unarmed)
        for modname, attrs in TARGETS:
            mod = importlib.import_module(modname)
            for attr in attrs:
                owner: Any = mod
                *path, last = attr.split(".")
                for p in path:
                    owner = getattr(owner, p)
                real = getattr(owner, last)
                fake = self._wrap(f"{modname}.{attr}", real)
                monkeypatch.setattr(owner, last, fake)
                if not path:  # a function: also where it was imported by name
                    for other in list(sys.modules.values()):
                        if getattr(other, "__name__", "").startswith("netlab.") and \
                                other is not mod and getattr(other, last, None) is real:
                            monkeypatch.setattr(other, last, fake)

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kw: Any) -> Any:
            if not self.fired and not self.paused:
                self.calls[name] += 1
                if name == self.fail_name and self.calls[name] == self.fail_at:
                    self.fired = True
                    raise _error_for(name)
            return fn(*args, **kw)

        return wrapper

    @contextmanager
    def failing(self, name: str | None, at: int = 0) -> Iterator[None]:
        self.calls.clear()
        self.fail_name, self.fail_at, self.fired = name, at, False
        try:
            yield
        finally:
            self.fired = True  # disarm: rollback and destroy run unhindered


def _deploy(file: Path) -> Any:
    from netlab.cli import app

    return CliRunner().invoke(app, ["deploy", str(file)])


def test_failure_at_every_backend_step_rolls_back(labs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from netlab.lab import Lab

    name = f"{P}fi"
    file = labs.write(name, topogen.with_uplink(topogen.renamed(NATGW, name)) or "")
    inj = Injector(monkeypatch)
    before = hostsnap.snapshot()
    with inj.failing(None):
        r = _deploy(file)
    assert r.exit_code == 0, r.output
    profile = dict(inj.calls)
    Lab.attach(name).destroy()
    assert settled_leftovers(name) == []
    assert not MUST_REACH - set(profile), f"deploy no longer calls {MUST_REACH - set(profile)}"
    failures = []
    for fn, count in sorted(profile.items()):
        for at in sorted({1, (count + 1) // 2, count}):
            where = f"{fn} failing at call {at}/{count}"
            with inj.failing(fn, at):
                r = _deploy(file)
            out = r.output
            if not inj.fired:
                failures.append(f"{where}: not reached (deploy order changed?)")
            elif r.exit_code != 1 or not isinstance(r.exception, SystemExit | None) \
                    or "Traceback" in out or "error" not in out.lower():
                exc = r.exception if not isinstance(r.exception, SystemExit) else ""
                failures.append(f"{where}: exit {r.exit_code} {exc!r}\n{out[-600:]}")
            if left := settled_leftovers(name):
                failures.append(f"{where}: rollback left {left}")
                host.force_clean(name)
            elif d := hostsnap.diff(before, hostsnap.snapshot(), only=name):
                failures.append(f"{where}: host changed:\n{d}")
    assert not failures, "\n\n".join(failures)


def test_names_taken_between_precheck_and_creation(labs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A foreign namespace (and a foreign host interface) appear after precheck: the real
    kernel refuses, deploy fails cleanly, and the foreign objects survive the rollback."""
    from netlab.backends.kernel import apply

    name = f"{P}fr"
    file = labs.write(name, topogen.with_uplink(topogen.renamed(NATGW, name)) or "")
    real = apply.precheck
    for foreign, undo, check in [
        (["ip", "netns", "add", f"{name}-web"], ["ip", "netns", "del", f"{name}-web"],
         lambda: f"{name}-web" in host.netns_names()),
        (["ip", "link", "add", f"nl-{name}", "type", "veth", "peer", "name", f"{P}frpeer"],
         ["ip", "link", "del", f"nl-{name}"], lambda: f"nl-{name}" in host.host_links()),
    ]:
        def late(plan, root, foreign=foreign):  # type: ignore[no-untyped-def]
            real(plan, root)
            subprocess.run(foreign, check=True, capture_output=True)

        monkeypatch.setattr(apply, "precheck", late)
        try:
            r = _deploy(file)
            assert r.exit_code == 1, r.output
            assert "Traceback" not in r.output and "error" in r.output.lower()
            assert check(), f"rollback removed the foreign object of {foreign}"
        finally:
            subprocess.run(undo, capture_output=True)
        assert settled_leftovers(name) == [], foreign


def test_state_directory_without_space(labs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """NETLAB_RUN_DIR on a tmpfs with no free inodes: a message, exit 1, nothing built."""
    run = tmp_path / "full"
    run.mkdir()
    # mode: a tmpfs is 1777 by default, which netlab refuses as a run directory
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,nr_inodes=8,mode=0700", f"{P}full",
                    str(run)], check=True)
    try:
        for k in range(100):  # use every inode
            try:
                (run / f"f{k}").touch()
            except OSError as e:
                assert e.errno == errno.ENOSPC
                break
        name = f"{P}fs"
        file = labs.write(name, topogen.renamed(NATGW, name))
        r = cli("deploy", str(file), env={**os.environ, "NETLAB_RUN_DIR": str(run)})
        assert r.returncode == 1 and no_traceback(r), r.stderr
        assert "No space left" in r.stderr or "no space" in r.stderr.lower(), r.stderr
        assert settled_leftovers(name) == []
    finally:
        host.unmount_all(run)
