"""`points` and `hint` per expectation: a score line (and score/max_score in --json), the
hint shown only for a failed expectation (table, JSON, JUnit)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.cli import app
from netlab.plan.model import Plan
from tests.probes.conftest import TOPOLOGIES
from tests.support.traffic import Listeners

pytestmark = pytest.mark.root
runner = CliRunner()

EXTRA = """
[[expect]]
from = "pc1"
to = "web"
points = 3
hint = "HINT-NEVER-SHOWN"
[[expect]]
from = "pc2"
to = "far"
points = 2.5
hint = "far is behind web, which is no router"
"""


def test_score_line_and_hints_only_on_failure(t4a: Plan, listeners: Listeners,
                                              tmp_path: Path) -> None:
    listeners.tcp(t4a.node("web").netns, 8080)
    topo = tmp_path / "t4a.toml"
    topo.write_text((TOPOLOGIES / "t4a.toml").read_text().replace(
        "[lab]\n", '[lab]\nwithin = "0s"\n') + EXTRA)
    junit = tmp_path / "out.xml"
    out = runner.invoke(app, ["check", str(topo), "--junit", str(junit)],
                        env={"COLUMNS": "200"})
    assert out.exit_code == 1, out.output
    assert "score: 7/9.5" in out.output
    assert "hint: far is behind web, which is no router" in out.output
    assert "HINT-NEVER-SHOWN" not in out.output
    fail = ET.parse(junit).getroot().find("testsuite/testcase/failure")
    assert fail is not None and fail.text is not None
    assert fail.text.endswith("hint: far is behind web, which is no router")

    out = runner.invoke(app, ["check", str(topo), "--json"])
    data = json.loads(out.stdout)
    assert (data["score"], data["max_score"]) == (7.0, 9.5)
    assert [(r["points"], r["score"], r["hint"]) for r in data["results"][4:]] == [
        (3.0, 3.0, None), (2.5, 0.0, "far is behind web, which is no router")]
