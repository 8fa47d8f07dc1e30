"""`netlab class grade` of many copies at once gives every healthy copy full marks.

The kernel's neighbour (ARP) table is one for the whole host: 1024 entries by default
(gc_thresh3), and an entry younger than 5 s is never reclaimed. Grading every copy at
once creates all the copies' entries within a second; past the limit the kernel drops
the packets ("neighbour table overflow") and healthy copies got "timeout (no reply)":
100 copies of a 10-node lab graded 69/100 full marks, the same 31 copies failing in
every run. Here: 30 copies of one switch with 10 hosts, 20 pings each between distinct
pairs (40 fresh entries a copy, 1200 in all): with the default limits and the old
grading, copies failed; `class grade` now makes room first, as pingall does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from netlab.classroom import deploy, grade, record, roster
from netlab.probes.limits import neighbour_entries
from tests.classroom.conftest import Classes

if TYPE_CHECKING:
    from netlab.plan.model import Plan

COPIES = 30
HOSTS = 10
# Distinct unordered pairs (i, i+1) and (i, i+2) around the ring: every ping is 2 entries.
PAIRS = [(i, (i + k) % HOSTS) for k in (1, 2) for i in range(HOSTS)]

STAR = "[lab]\nname = \"star\"\n[switches.s]\n" + "".join(
    f'[nodes.h{i + 1}]\n[[links]]\nendpoints = ["h{i + 1}", "s"]\n' for i in range(HOSTS)
) + "".join(f'[[expect]]\nfrom = "h{a + 1}"\nto = "h{b + 1}"\n' for a, b in PAIRS)


def _plan(tmp_path: Path) -> tuple[Path, Plan]:
    f = tmp_path / "star.toml"
    f.write_text(STAR)
    return f, deploy.compile_copy(deploy.model_of(STAR, str(f)), str(f), "star")


def test_neighbour_entries_counts_every_pair_of_each_segment(tmp_path: Path) -> None:
    _, plan = _plan(tmp_path)
    assert neighbour_entries(plan) == HOSTS * (HOSTS - 1)  # one switch: all pairs
    two = deploy.model_of('[lab]\nname = "two"\n[nodes.a]\n[nodes.b]\n[nodes.c]\n'
                          '[[links]]\nendpoints = ["a", "b"]\n'
                          '[[links]]\nendpoints = ["b", "c"]\n', "two.toml")
    assert neighbour_entries(deploy.compile_copy(two, "two.toml", "two")) == 4


def _sysctl(key: str) -> int:
    return int(Path("/proc/sys/net/ipv4/neigh/default", key).read_text())


@pytest.mark.root
@pytest.mark.host_exclusive  # fills the host's one neighbour table: others' probes would drop
def test_thirty_copies_graded_at_once_all_full_marks(classes: Classes,
                                                     tmp_path: Path) -> None:
    f, plan = _plan(tmp_path)
    cls = classes.name()
    deploy.up(str(f), roster.numbered(COPIES), name=cls)
    labs = record.read(cls).labs()
    # One copy broken on purpose: h3's link down (the kernel's own `ip` does it).
    broken = labs[6]
    subprocess.run(["ip", "-n", f"{broken}-h3", "link", "set", "eth0", "down"], check=True)

    _, grades = grade.grade_class(cls)

    assert len(grades) == COPIES
    wrong = {g.lab: [r.title for r in g.report.failed] if g.report else [g.error]
             for g in grades if g.lab != broken and (g.report is None or not g.report.ok)}
    assert not wrong, f"healthy copies lost marks: {wrong}"
    row = next(g for g in grades if g.lab == broken)
    assert row.report is not None
    failed = sorted(r.index for r in row.report.failed)
    assert failed == [i for i, (a, b) in enumerate(PAIRS) if 2 in (a, b)]
    assert all("h3" in r.title for r in row.report.failed)
    assert row.score == len(PAIRS) - len(failed)
    # The host's table has room for the whole burst while the class is up.
    assert _sysctl("gc_thresh3") >= neighbour_entries(plan) * COPIES
