"""The suite's fixtures and root marking, registered once (tests/conftest.py
`pytest_plugins`), so that a test file works wherever it lives in the tree.

Root marking: a test is marked `root` when it uses a fixture that deploys or needs the
kernel (ROOT_FIXTURES, directly or through another fixture), or carries the mark itself
(`pytestmark = pytest.mark.root`, `@pytest.mark.root`). Without root, every `root` test is
skipped with the reason; `-m "not root"` selects the pure tests, which need no privilege.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.deploy import Labs
from tests.support.netns import netns_exec
from tests.support.traffic import Listeners

if TYPE_CHECKING:
    from netlab.plan.model import Plan

ROOT_FIXTURES = {"labs", "deploy", "run_dir", "nft_rules"}
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
