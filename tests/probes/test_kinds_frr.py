"""ospf = {neighbor, state} / bgp = {peer, state}: FRR's `vtysh -c '... json'` read in the
node. FRR is not installed here: the parsing is tested on recorded FRR 8.4 JSON
(tests/probes/frr/), and the whole path (compile, the backend running vtysh in the node,
the check table) with a fake `vtysh` first on PATH that prints those recordings. Tests
against a real FRR come with the FRR issue."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from netlab.plan.model import Plan
from netlab.probes import check, kinds
from netlab.probes.kinds import bgp, ospf
from tests.probes.kindlab import expectations

FRR = Path(__file__).parent / "frr"

EXPECT = """
[[expect]]
from = "gw"
ospf = { neighbor = "web" }
[[expect]]
from = "gw"
bgp = { peer = "web", state = "Established" }
[[expect]]
from = "gw"
bgp = { peer = "203.0.113.2" }
[[expect]]
from = "gw"
ospf = { neighbor = "pc1", state = "Full" }
[[expect]]
from = "gw"
bgp = { peer = "pc2" }
[[expect]]
from = "gw"
ospf = { neighbor = "far" }
[[expect]]
from = "gw"
ospf = { neighbor = "pc1", state = "2-Way" }
"""


def test_recorded_frr_json_is_read() -> None:
    data = json.loads((FRR / "ospf-neighbor-8.4.json").read_text())
    assert ospf.neighbors(data) == [("203.0.113.2", "203.0.113.2", "Full/DR"),
                                    ("10.0.0.2", "10.0.0.2", "2-Way/DROther")]
    # Before FRR 7.5 a router id mapped to one object, with state/address.
    old = {"neighbors": {"1.1.1.1": {"state": "Full/Backup", "address": "10.0.0.9"}}}
    assert ospf.neighbors(old) == [("1.1.1.1", "10.0.0.9", "Full/Backup")]
    data = json.loads((FRR / "bgp-summary-8.4.json").read_text())
    assert bgp.peers(data) == [("ipv4Unicast", "203.0.113.2", "web", "Established"),
                               ("ipv4Unicast", "10.0.0.3", "", "Active")]


@pytest.fixture
def fake_vtysh(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A `vtysh` that prints the recordings, first on PATH for the commands check runs.
    In /dev/shm, which nodes share with the host (a node's /tmp is its own)."""
    import shutil
    import tempfile

    exe = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="netlab-test-")) / "bin" / "vtysh"
    exe.parent.mkdir()
    exe.write_text(f"""#!/bin/sh
case "$2" in
  "{ospf.SHOW}") cat {FRR}/ospf-neighbor-8.4.json ;;
  "{bgp.SHOW}") cat {FRR}/bgp-summary-8.4.json ;;
  *) echo "% Unknown command: $2" >&2; exit 1 ;;
esac
""")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{exe.parent}:" + __import__("os").environ["PATH"])
    yield exe
    shutil.rmtree(exe.parent.parent, ignore_errors=True)


@pytest.mark.root
def test_ospf_and_bgp_through_vtysh_in_the_node(t4a: Plan, fake_vtysh: Path) -> None:
    exp = expectations(EXPECT)
    assert kinds.title(exp[0]) == "[4] gw ospf neighbor web Full: as expected"
    assert kinds.title(exp[1]) == "[5] gw bgp peer web Established: as expected"
    report = check(t4a, exp)
    assert [r.passed for r in report] == [True, True, True, False, False, False, True], \
        [(r.title, r.seen) for r in report]
    seen = [r.seen for r in report]
    assert seen[0] == "neighbour 203.0.113.2 via 203.0.113.2: Full/DR"
    assert seen[1] == seen[2] == "peer 203.0.113.2 (ipv4Unicast): Established"
    assert seen[3] == "neighbour 10.0.0.2 via 10.0.0.2: 2-Way/DROther"
    assert seen[4] == "peer 10.0.0.3 (ipv4Unicast): Active"
    assert seen[5] == "no OSPF neighbour far (neighbours: 203.0.113.2 (Full/DR), " \
        "10.0.0.2 (2-Way/DROther))"


@pytest.mark.root
def test_without_frr_the_check_says_so(t4a: Plan, monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no vtysh anywhere
    r = check(t4a, expectations(EXPECT)[:1])[0]
    assert not r.passed
    assert r.seen.startswith("cannot run vtysh: No such file or directory"), r.seen
