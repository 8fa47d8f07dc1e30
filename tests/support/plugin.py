"""The suite's fixtures and root marking, registered once (tests/conftest.py
`pytest_plugins`), so that a test file works wherever it lives in the tree.

Root marking: a test is marked `root` when it uses a fixture that deploys or needs the
kernel (ROOT_FIXTURES, directly or through another fixture), or carries the mark itself
(`pytestmark = pytest.mark.root`, `@pytest.mark.root`). Without root, every `root` test is
skipped with the reason; `-m "not root"` selects the pure tests, which need no privilege.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import typer

from tests.support.deploy import Labs
from tests.support.names import RUN
from tests.support.netns import netns_exec
from tests.support.traffic import Listeners

if TYPE_CHECKING:
    from netlab.plan.model import Plan

# `users` (tests/rootless) adds Unix users, `classes` (tests/classroom) deploys classes:
# root's work, which the host lock must see as well.
ROOT_FIXTURES = {"labs", "deploy", "run_dir", "nft_rules", "users", "classes"}
# The host lock: root tests share it, tests marked `host_exclusive` (they compare the
# whole host before and after, or time the machine) hold it alone. It is the machine's,
# not the run's: pytest-xdist workers and a second suite run at once all take it.
HOST_LOCK = "/run/lock/netlab-tests.lock"
# Taken briefly before the host lock: a test waiting to run alone keeps new tests from
# starting meanwhile (flock itself would let readers pass it forever).
HOST_GATE = "/run/lock/netlab-tests.gate"
NOT_ROOT = "needs root (network namespaces); run as root, or select -m 'not root'"


def pytest_configure(config: pytest.Config) -> None:
    """The session's settings: a short service settle, pytest-xdist keeping our file order
    (host_order), typer's CLI built once (_build_cli_once), and a bytecode cache.

    Child Pythons (every `netlab` command a test runs as a process: lessons, signals,
    concurrency) keep their compiled bytecode in one private directory for the session.
    With PYTHONDONTWRITEBYTECODE set (as on the test machines) each child compiled netlab
    and its dependencies anew: about half of a short command's CPU time, on a suite that
    runs hundreds of them. The checkout stays free of __pycache__; the code run is the same."""
    # Deploy watches `exec` services for a second (procs.settle_time); the suite's labs
    # need not: a misspelt command still dies within 0.1 s (tests of the second set it).
    os.environ.setdefault("NETLAB_SERVICE_SETTLE", "0.1")
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False  # pytest-xdist keeps host_order's order
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
        cache = tempfile.mkdtemp(prefix="netlab-test-pyc-")
        config.add_cleanup(lambda: shutil.rmtree(cache, ignore_errors=True))
        os.environ["PYTHONPYCACHEPREFIX"] = cache
        del os.environ["PYTHONDONTWRITEBYTECODE"]
    _build_cli_once()


def _build_cli_once() -> None:
    """typer's CliRunner builds the whole click command tree from the app's signatures on
    every invoke (~70 ms idle, several times that on a busy machine, hundreds of invokes
    in the suite); the tree is the same every time: built once per app."""
    import typer.testing

    build = getattr(typer.testing, "_get_command", None)
    if build is None or getattr(build, "netlab_cached", False):
        return
    built: dict[int, tuple[object, object]] = {}

    def once(app: typer.Typer) -> object:
        if id(app) not in built:
            built[id(app)] = (app, build(app))  # the app kept: its id stays its own
        return built[id(app)][1]

    once.netlab_cached = True  # type: ignore[attr-defined]
    typer.testing._get_command = once  # type: ignore[attr-defined]


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """A parameter holding this run's token (tests/support/names.py RUN, different in each
    pytest-xdist worker) gets an id without it: every worker must collect the same tests."""
    if isinstance(val, str) and RUN in val:
        return val.replace(RUN, "RUN").encode("unicode_escape").decode("ascii")
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if ROOT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.root)
    if os.geteuid() == 0:
        items[:] = host_order(items)
        return
    skip = pytest.mark.skip(reason=NOT_ROOT)
    for item in items:
        if item.get_closest_marker("root"):
            item.add_marker(skip)


def host_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """The files in the order pytest-xdist hands them out (--dist loadfile takes them in
    collection order: pytest_configure turns its own reordering off). A test that holds
    the host alone stops every other root test, so the files that have one come first,
    each followed by three files with no root test, which other workers run meanwhile;
    then the other root files, most tests first; the rest of the pure files last, small
    units that fill the workers' ends evenly. In each group the files marked `slow` (a
    minute or more in all) come first: a long unit started last would end the run alone.
    Tests keep their order inside a file; every worker computes the same order."""
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def has(name: str, tests: list[pytest.Item]) -> bool:
        return any(t.get_closest_marker(name) for t in tests)

    def slow_first(names: list[str]) -> list[str]:
        return sorted(names, key=lambda f: not has("slow", files[f]))  # stable

    alone = [f for f, t in files.items() if has("host_exclusive", t)]
    shared = slow_first(sorted((f for f, t in files.items() if f not in alone and has("root", t)),
                               key=lambda f: -len(files[f])))
    pure = slow_first([f for f in files if f not in alone and f not in shared])
    order: list[str] = []
    for f in alone:
        order += [f, *pure[:3]]
        del pure[:3]
    order += shared + pure
    return [t for f in order for t in files[f]]


class _HostLock:
    """This process's hold on HOST_LOCK: shared, exclusive or none."""

    def __init__(self) -> None:
        self.fd: int | None = None
        self.mode = 0

    @staticmethod
    def _open(path: str) -> int:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)

    def hold(self, mode: int) -> None:
        if self.mode == mode:
            return
        # Never wait while holding: a change of mode lets go first (no deadlock between
        # two processes each holding one and wanting the other).
        self.release()
        gate = self._open(HOST_GATE)
        try:
            fcntl.flock(gate, fcntl.LOCK_EX)
            fd = self._open(HOST_LOCK)
            fcntl.flock(fd, mode)
        finally:
            os.close(gate)  # closing lets go of the gate
        self.fd, self.mode = fd, mode

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
        self.fd, self.mode = None, 0


_HOST = _HostLock()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Iterator[None]:
    """Root tests run side by side (pytest-xdist) except those marked `host_exclusive`.
    Held for one test, its set-up and tear-down included: a module-scoped lab is made and
    removed inside a test's hold, and one that merely stays up between tests changes
    nothing an exclusive test compares before and after."""
    asked = time.time()
    if os.geteuid() == 0:
        if item.get_closest_marker("host_exclusive"):
            _HOST.hold(fcntl.LOCK_EX)
        elif item.get_closest_marker("root"):
            _HOST.hold(fcntl.LOCK_SH)
    got = time.time()
    try:
        yield
    finally:
        mode = _HOST.mode
        _HOST.release()
        _log_hold(item.nodeid, mode, asked, got)


def _log_hold(nodeid: str, mode: int, asked: float, got: float) -> None:
    """NETLAB_TEST_LOCK_LOG=FILE: a JSON line per test (worker, lock mode, when it asked
    for the host lock, got it, ended), to see where a parallel suite run waits."""
    path = os.environ.get("NETLAB_TEST_LOCK_LOG")
    if path:
        line = {"worker": os.environ.get("PYTEST_XDIST_WORKER", "-"), "test": nodeid,
                "mode": {fcntl.LOCK_EX: "ex", fcntl.LOCK_SH: "sh"}.get(mode, "-"),
                "asked": asked, "got": got, "end": time.time()}
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


@pytest.fixture
def labs(tmp_path: Path) -> Iterator[Labs]:
    """A Labs tracker for one test (tests/support/deploy.py): every lab it wrote, tracked
    or deployed is gone afterwards; labs it deployed must leave nothing when destroyed."""
    box = Labs(tmp_path)
    try:
        yield box
    finally:
        left = box.cleanup()
    assert not left, f"destroy left: {left}"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private state directory, so tests never see (or clash with) other labs."""
    d = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETLAB_RUN_DIR", str(d))
        yield d
    # The backend makes the state directory a shared bind mount (for the namespace
    # mounts under it); undo that so pytest can delete the temp directory later.
    # (os.path.ismount cannot see a bind mount of the same filesystem: just try.)
    subprocess.run(["umount", "--lazy", str(d)], capture_output=True)


@pytest.fixture(scope="module")
def deploy(run_dir: Path, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[Callable[[Path | str], Plan]]:
    """deploy(topology file or text) -> plan, links up (Labs.lab says how each is named),
    in this module's private state directory; every lab is destroyed at module end, also
    when tests (or the deploy itself) fail, and must leave nothing."""
    box = Labs(tmp_path_factory.mktemp("topo"))
    try:
        yield box.lab
    finally:
        left = box.cleanup()
    assert not left, f"destroy left: {left}"


@pytest.fixture
def listeners() -> Iterator[Listeners]:
    ls = Listeners()
    try:
        yield ls
    finally:
        ls.close()


@pytest.fixture
def nft_rules() -> Iterator[Callable[[str, str], None]]:
    """add(netns, ruleset): load an nft ruleset (own table) for one test, then delete it."""
    added: list[tuple[str, str]] = []

    def add(netns: str, ruleset: str) -> None:
        netns_exec(netns, "nft", "-f", "-", input=ruleset, check=True)
        added.append((netns, ruleset.split("{", 1)[0].replace("table", "").strip()))

    try:
        yield add
    finally:
        for netns, table in added:
            netns_exec(netns, "nft", "delete", "table", *table.split())
