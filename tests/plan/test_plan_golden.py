"""`netlab plan` (text and --json) of every bundled topology equals its golden file.

A new topology in topologies/ needs its goldens: NETLAB_UPDATE_GOLDEN=1, then review.
"""

from __future__ import annotations

import json

import pytest

from netlab.plan.model import PLAN_FORMAT, Plan
from tests.support import REPO
from tests.support.cli import netlab
from tests.support.golden import GOLDEN, check

TOPOLOGIES = sorted(p.stem for p in (REPO / "topologies").glob("*.toml"))


def test_bundled_topologies_exist() -> None:
    assert {"natgw", "two-hosts", "router-lans", "chain-auto", "dualstack"} <= set(TOPOLOGIES)


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_plan_text(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run = netlab(monkeypatch, "plan", f"topologies/{name}.toml")
    assert run.code == 0, run.stderr
    check(GOLDEN / "plans" / f"{name}.txt", run.stdout)


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_plan_json(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run = netlab(monkeypatch, "plan", "--json", f"topologies/{name}.toml")
    assert run.code == 0, run.stderr
    check(GOLDEN / "plans" / f"{name}.json", run.stdout)
    data = json.loads(run.stdout)
    assert data["format"] == PLAN_FORMAT
    assert data["source"] == f"topologies/{name}.toml"
    # The JSON is the contract: it reads back into an equal Plan.
    assert Plan.from_json(run.stdout).to_json() == run.stdout


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_bundled_topology_validates(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run = netlab(monkeypatch, "validate", f"topologies/{name}.toml")
    assert run.code == 0, run.stderr
    assert run.stdout.startswith(f"topologies/{name}.toml: lab ")
    assert run.stdout.count("\n") == 1  # a one-line summary
    assert "error" not in run.stderr
