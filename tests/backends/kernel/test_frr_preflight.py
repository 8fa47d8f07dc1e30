"""A lab whose routers run a routing protocol needs FRR: without it, validate and deploy
refuse before anything is built, naming the Debian package (backends/kernel/preflight.py).
"Not installed" is simulated by pointing the check at a directory that does not exist."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from netlab.backends.kernel import preflight
from netlab.topology.model import TopologyFile
from tests.support.cli import netlab
from tests.support.names import renamed_text, unique_name

TOPO = """
[lab]
name = "x"
routing = "ospf"
[nodes.r1]
kind = "router"
[nodes.r2]
kind = "router"
[[links]]
endpoints = ["r1", "r2"]
"""


def _model(text: str) -> TopologyFile:
    import tomllib

    return TopologyFile.model_validate(tomllib.loads(text))


def test_installed_frr_passes() -> None:
    # FRR is installed on the test machines (scripts/install.sh).
    assert (preflight.FRR_DAEMONS / "ospfd").exists(), "install frr (scripts/install.sh)"
    assert preflight.frr_problems(_model(TOPO)) == []


def test_missing_frr_is_an_error_naming_the_package(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setattr(preflight, "FRR_DAEMONS", tmp_path / "no-frr")
    (found,) = preflight.frr_problems(_model(TOPO))
    assert found.severity == "error" and found.path == "lab.routing"
    assert "ospf" in found.message and str(tmp_path / "no-frr" / "zebra") in found.message
    assert "'frr'" in found.fix and "apt-get install frr" in found.fix
    # Only the daemons a lab needs count: a lab with no protocol needs none.
    assert preflight.frr_problems(_model(TOPO.replace('"ospf"', '"auto"'))) == []
    # A per-node protocol is named at that node's key.
    per_node = TOPO.replace('routing = "ospf"', "").replace(
        '[nodes.r2]', '[nodes.r2]\nrouting = "bgp"\nasn = 1')
    (found,) = preflight.frr_problems(_model(per_node))
    assert found.path == "nodes.r2" and "bgp" in found.message


def test_missing_vtysh_alone_is_reported(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.setattr(preflight, "VTYSH", tmp_path / "vtysh")
    (found,) = preflight.frr_problems(_model(TOPO))
    assert str(tmp_path / "vtysh") in found.message
    assert "/usr/lib/frr/zebra" not in found.message


@pytest.mark.root
def test_validate_and_deploy_refuse_before_building(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    name = unique_name("tfrr")
    topo = tmp_path / "lab.toml"
    topo.write_text(renamed_text(TOPO, name))
    monkeypatch.setattr(preflight, "FRR_DAEMONS", tmp_path / "no-frr")
    for verb in ("validate", "deploy"):
        run = netlab(monkeypatch, verb, str(topo))
        assert run.code == 2, run.output
        assert "FRR is not installed" in run.stderr
        assert "install the Debian package 'frr'" in run.stderr
        assert "Traceback" not in run.output
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert name not in namespaces  # nothing was built
    # With FRR there, the same file validates.
    monkeypatch.undo()
    assert netlab(monkeypatch, "validate", str(topo)).code == 0
