"""pytest plugin (entry point `netlab`): the `netlab_lab` fixture.

    @pytest.mark.netlab_topology("topologies/natgw.toml")
    def test_web(netlab_lab):
        assert netlab_lab.ping("pc1", "web").ok
        assert netlab_lab.check().ok

The topology comes from, in order: the test's `netlab_topology` marker, an override of the
`netlab_topology` fixture, or the `netlab_topology` ini option. Relative paths are taken
from the test file's directory, then from the rootdir. Each test gets its own copy of the
lab under a unique name (so runs and tests never clash) that is destroyed afterwards, pass
or fail. Needs root: without it the test is skipped. Imports stay light (no scapy or
pyroute2) because pytest loads this module in every run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from netlab.lab import Lab
    from netlab.plan.model import Plan

MARKER = "netlab_topology"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(MARKER, "Default topology file for the netlab_lab fixture.", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(path): topology file the netlab_lab fixture deploys for this test")


@pytest.fixture
def netlab_topology(request: pytest.FixtureRequest) -> Path:
    """The topology file to deploy; override this fixture to choose it in code."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if not marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} needs a path argument")
        text = str(marker.args[0])
    else:
        text = str(request.config.getini(MARKER) or "")
        if not text:
            raise pytest.UsageError(
                f"netlab_lab needs a topology: add @pytest.mark.{MARKER}('lab.toml'), "
                f"set `{MARKER} = lab.toml` in the pytest ini options, or override the "
                f"`{MARKER}` fixture")
    return _find(Path(text), Path(str(request.node.path)).parent, request.config.rootpath)


def _find(path: Path, test_dir: Path, root: Path) -> Path:
    if path.is_absolute():
        return path
    for base in (test_dir, root):
        if (base / path).is_file():
            return base / path
    return root / path  # loading it reports "no such file" with this path


def unique_plan(path: Path) -> Plan:
    """The topology's plan, renamed to a fresh lab name (and namespace prefix)."""
    from netlab.api import load
    from netlab.compile.compiler import compile_topology

    topo = load(path)
    name = f"{topo.name[:6].rstrip('-')}-{secrets.token_hex(2)}"  # <= 11 chars
    lab = topo.model.lab.model_copy(update={"name": name, "prefix": name})
    return compile_topology(topo.model.model_copy(update={"lab": lab}), str(path)).plan


@pytest.fixture
def netlab_lab(netlab_topology: Path) -> Iterator[Lab]:
    """A deployed netlab.lab.Lab of the test's topology; destroyed after the test."""
    if os.geteuid() != 0:
        pytest.skip("netlab_lab needs root (network namespaces)")
    from netlab.lab import Lab

    plan = unique_plan(netlab_topology)
    lab = Lab(plan)
    try:
        lab = Lab.deploy(plan)
        yield lab
    finally:
        lab.destroy()
