"""CI for the classroom library: deploy every bundled lab (under a t6 name), run its
expectations, destroy it, and prove nothing is left: no namespace, no /etc/netns/<ns>,
no /run/netlab/<lab>, no process it started. Exercise labs must fail exactly their
known expectations (labtools.EXPECTED_FAILURES)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from netlab.api import load
from netlab.lab import Lab
from netlab.linux.netns import netns_path
from netlab.plan.model import Plan
from netlab.probes import check
from netlab.probes.results import CheckReport
from netlab.state.store import lab_dir, read_record
from netlab.topology import library
from tests.labs.labtools import DYNAMIC_LABS, EXPECTED_FAILURES, deploy_name
from tests.support.names import renamed_copy

pytestmark = pytest.mark.root

LABS = [lab for lab in library.bundled() if lab.name not in DYNAMIC_LABS]
SETTLE_ROUNDS = 8  # services started by `exec` (web, dns, echo) may need a moment


def _settled_check(lab: Lab, expected: set[int]) -> CheckReport:
    """Check; re-run only unexpected failures a few times while exec'd services start.
    Expected failures are never retried, so they must fail on the first run."""
    report = lab.check()
    results = {r.index: r for r in report.results}
    for _ in range(SETTLE_ROUNDS):
        again = [e for e in lab.plan.expect
                 if not results[e.index].passed and e.index not in expected]
        if not again:
            break
        time.sleep(0.25)
        results.update({r.index: r for r in check(lab.plan, again).results})
    return CheckReport(report.lab, [results[i] for i in sorted(results)], report.elapsed_s)


def _leftovers(plan: Plan, pids: list[tuple[int, int | None]]) -> list[str]:
    left = [f"netns {ns}" for ns in plan.namespaces if os.path.exists(netns_path(ns))]
    left += [f"/etc/netns/{ns}" for ns in plan.namespaces if Path("/etc/netns", ns).exists()]
    if lab_dir(plan.lab).exists():
        left.append(str(lab_dir(plan.lab)))
    for pid, start in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if start is None or int(fields[19]) == start:  # same pid AND same start: ours
            left.append(f"process {pid}" + (" (zombie)" if fields[0] == b"Z" else ""))
    return left


@pytest.mark.parametrize("bundled", LABS, ids=[lab.name for lab in LABS])
def test_bundled_lab_deploys_checks_and_leaves_nothing(
    bundled: library.BundledLab, tmp_path: Path
) -> None:
    name = deploy_name(bundled.name)
    plan = load(renamed_copy(bundled.path, name, tmp_path)).plan
    expected = EXPECTED_FAILURES.get(bundled.name, set())
    pids: list[tuple[int, int | None]] = []
    try:
        lab = Lab.deploy(plan)
        pids = [(e["pid"], e.get("start")) for e in read_record(name).of("proc")]
        assert len(pids) == sum(len(n.exec) for n in plan.nodes)
        report = _settled_check(lab, expected)
        failed = {r.index for r in report.failed}
        assert failed == expected, "\n".join(
            f"[{r.index}] {'pass' if r.passed else 'FAIL'}: {r.title}: {r.seen}"
            for r in report.results)
    finally:
        Lab(plan).destroy()
    assert _leftovers(plan, pids) == []


def test_cli_check_grades_the_exercise_and_its_solution(tmp_path: Path) -> None:
    """`netlab check FILE --json` as a student runs it: exit 1 with exactly the known
    failures for `broken`, exit 0 for `fixed`."""
    import json

    from typer.testing import CliRunner

    from netlab.cli import app

    runner = CliRunner()
    for lab, code in (("broken", 1), ("fixed", 0)):
        path = renamed_copy(library.find(lab).path, deploy_name(lab) + "c", tmp_path)
        plan = load(path).plan
        try:
            Lab.deploy(plan)
            if lab == "fixed":  # wait for srv's web server, as a student would
                _settled_check(Lab(plan), set())
            result = runner.invoke(app, ["check", str(path), "--json"])
            assert result.exit_code == code, result.output
            report = json.loads(result.output)
            failed = {r["index"] for r in report["results"] if not r["passed"]}
            assert failed == EXPECTED_FAILURES.get(lab, set()), result.output
        finally:
            Lab(plan).destroy()
        assert _leftovers(plan, []) == []
