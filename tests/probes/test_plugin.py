"""The pytest plugin's netlab_lab fixture, exercised by a real inner pytest run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

TOPO = """
[lab]
name = "t4plug"
[nodes.a]
[nodes.b]
[nodes.c]
[switches.s]
subnet = "10.44.0.0/24"
[[links]]
endpoints = ["a", "s"]
[[links]]
endpoints = ["b", "s"]
[[links]]
endpoints = ["c:eth0", "a:eth1"]
subnet = "10.45.0.0/30"
[[expect]]
from = "a"
to = "b"
[[expect]]
from = "b"
to = "c"
reach = false
"""

TESTS = """
import pytest

def record(lab):
    with open("labs.txt", "a") as f:
        f.write(lab.name + "\\n")

def test_from_ini(netlab_lab):
    record(netlab_lab)
    r = netlab_lab.ping("a", "b", count=2, interval=0.01)
    assert r.ok and r.loss == 0 and len(r.rtts) == 2 and r.replies[0].seq == 1
    report = netlab_lab.check()
    assert report.ok and len(report) == 2

@pytest.mark.netlab_topology("sub/other.toml")
def test_from_marker_and_failing(netlab_lab):
    record(netlab_lab)
    assert netlab_lab.ping("b", "c", count=1, timeout=0.2).ok  # b has no route to c
"""


def test_fixture_deploys_unique_labs_and_always_destroys(tmp_path: Path, run_dir: Path) -> None:
    (tmp_path / "lab.toml").write_text(TOPO)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.toml").write_text(TOPO)
    (tmp_path / "pytest.ini").write_text("[pytest]\nnetlab_topology = lab.toml\n")
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(TESTS))
    env = dict(os.environ, NETLAB_RUN_DIR=str(run_dir))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_inner.py"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed, 1 passed" in proc.stdout
    names = (tmp_path / "labs.txt").read_text().split()
    assert len(names) == 2 and len(set(names)) == 2
    assert all(n.startswith("t4plug-") for n in names)
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for n in names:
        assert f"{n}-" not in netns  # destroyed, the failed test's lab too
        assert not (run_dir / n).exists()


def test_fixture_without_topology_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text("def test_x(netlab_lab):\n    pass\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_inner.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "netlab_lab needs a topology" in proc.stdout + proc.stderr
