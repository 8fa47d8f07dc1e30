"""The suite's fixtures and root marking, registered once (tests/conftest.py
`pytest_plugins`), so that a test file works wherever it lives in the tree.

Root marking: a test is marked `root` when it uses a fixture that deploys or needs the
kernel (ROOT_FIXTURES, directly or through another fixture), or carries the mark itself
(`pytestmark = pytest.mark.root`, `@pytest.mark.root`). Without root, every `root` test is
skipped with the reason; `-m "not root"` selects the pure tests, which need no privilege.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.deploy import Labs
from tests.support.names import RUN
from tests.support.netns import netns_exec
from tests.support.traffic import Listeners

if TYPE_CHECKING:
    from netlab.plan.model import Plan

ROOT_FIXTURES = {"labs", "deploy", "run_dir", "nft_rules"}
# The host lock: root tests share it, tests marked `host_exclusive` (they compare the
# whole host before and after, or time the machine) hold it alone. It is the machine's,
# not the run's: pytest-xdist workers and a second suite run at once all take it.
HOST_LOCK = "/run/lock/netlab-tests.lock"
# Taken briefly before the host lock: a test waiting to run alone keeps new tests from
# starting meanwhile (flock itself would let readers pass it forever).
HOST_GATE = "/run/lock/netlab-tests.gate"
NOT_ROOT = "needs root (network namespaces); run as root, or select -m 'not root'"


def pytest_configure(config: pytest.Config) -> None:
    """Child Pythons (every `netlab` command a test runs as a process: lessons, signals,
    concurrency) keep their compiled bytecode in one private directory for the session.
    With PYTHONDONTWRITEBYTECODE set (as on the test machines) each child compiled netlab
    and its dependencies anew: about half of a short command's CPU time, on a suite that
    runs hundreds of them. The checkout stays free of __pycache__; the code run is the same."""
    # Deploy watches `exec` services for a second (procs.settle_time); the suite's labs
    # need not: a misspelt command still dies within 0.1 s (tests of the second set it).
    os.environ.setdefault("NETLAB_SERVICE_SETTLE", "0.1")
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not os.environ.get("PYTHONPYCACHEPREFIX"):
        cache = tempfile.mkdtemp(prefix="netlab-test-pyc-")
        config.add_cleanup(lambda: shutil.rmtree(cache, ignore_errors=True))
        os.environ["PYTHONPYCACHEPREFIX"] = cache
        del os.environ["PYTHONDONTWRITEBYTECODE"]


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
        return
    skip = pytest.mark.skip(reason=NOT_ROOT)
    for item in items:
        if item.get_closest_marker("root"):
            item.add_marker(skip)


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
    if os.geteuid() == 0:
        if item.get_closest_marker("host_exclusive"):
            _HOST.hold(fcntl.LOCK_EX)
        elif item.get_closest_marker("root"):
            _HOST.hold(fcntl.LOCK_SH)
    try:
        yield
    finally:
        _HOST.release()


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
