"""`netlab check --csv FILE` and `--gradescope FILE` (issue 13, item 4): one row / one test
per expectation with points, score and the hint of a failure; written atomically; a path
that cannot be written is refused (exit 2) before anything is probed."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest

from netlab.errors import UsageError
from netlab.probes import grading
from netlab.probes.results import CheckReport, CheckResult
from tests.support.cli import invoke
from tests.support.deploy import Labs

REPORT = CheckReport("lab1", [
    CheckResult(0, "[0] h1 -> h2 (10.0.0.2) icmp: reach", True, "3/3 replies", points=2),
    CheckResult(1, "[1] h1 -> h2 (10.0.0.2) tcp/22: closed", False, "SYN-ACK from h2",
                details=["port 22 answered"], points=1.5, hint="stop sshd on h2"),
    CheckResult(2, "[2] h2 -> h1 (10.0.0.1) icmp: reach", False, "no reply", points=1),
], elapsed_s=0.25)


def check_gradescope(data: Any) -> None:
    """The structure Gradescope's autograder reads (results.json)."""
    assert isinstance(data, dict)
    assert isinstance(data["score"], int | float) and isinstance(data["max_score"], int | float)
    assert isinstance(data["tests"], list)
    for t in data["tests"]:
        assert set(t) >= {"name", "score", "max_score", "output", "status"}, t
        assert isinstance(t["name"], str) and isinstance(t["output"], str)
        assert isinstance(t["score"], int | float) and isinstance(t["max_score"], int | float)
        assert t["status"] in ("passed", "failed")
        assert 0 <= t["score"] <= t["max_score"]
    assert data["score"] == sum(t["score"] for t in data["tests"])
    assert data["max_score"] == sum(t["max_score"] for t in data["tests"])


def test_gradescope_results() -> None:
    data = json.loads(json.dumps(grading.to_gradescope(REPORT)))
    check_gradescope(data)
    assert (data["score"], data["max_score"]) == (2, 4.5)
    assert [(t["name"], t["score"], t["max_score"], t["status"]) for t in data["tests"]] == [
        ("h1 -> h2 (10.0.0.2) icmp: reach", 2, 2, "passed"),
        ("h1 -> h2 (10.0.0.2) tcp/22: closed", 0, 1.5, "failed"),
        ("h2 -> h1 (10.0.0.1) icmp: reach", 0, 1, "failed")]
    assert data["tests"][1]["output"] == \
        "seen: SYN-ACK from h2\nport 22 answered\nhint: stop sshd on h2"
    assert "hint" not in data["tests"][0]["output"]


def test_csv_rows() -> None:
    rows = list(csv.reader(grading.to_csv(REPORT).splitlines()))
    assert rows == [
        ["index", "title", "result", "points", "score", "hint", "seen"],
        ["0", "h1 -> h2 (10.0.0.2) icmp: reach", "pass", "2", "2", "", "3/3 replies"],
        ["1", "h1 -> h2 (10.0.0.2) tcp/22: closed", "fail", "1.5", "0", "stop sshd on h2",
         "SYN-ACK from h2"],
        ["2", "h2 -> h1 (10.0.0.1) icmp: reach", "fail", "1", "0", "", "no reply"]]


def test_written_atomically_and_readable(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    out.write_text("old")
    target = tmp_path / "elsewhere"
    (tmp_path / "link.csv").symlink_to(target)
    grading.write_gradescope(out, REPORT)
    grading.write_csv(tmp_path / "link.csv", REPORT)
    check_gradescope(json.loads(out.read_text()))
    assert os.stat(out).st_mode & 0o777 == 0o644
    assert not target.exists()  # the link was replaced, not written through
    assert (tmp_path / "link.csv").read_text().startswith("index,title,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "results.json"]


@pytest.mark.parametrize("bad, why", [("missing/out.csv", "does not exist"),
                                       (".", "is a directory")])
def test_unwritable_paths_are_usage_errors(tmp_path: Path, bad: str, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        grading.writable(tmp_path / bad, "--csv")


@pytest.mark.root
@pytest.mark.parametrize("option", ["--csv", "--gradescope", "--junit"])
def test_a_bad_path_is_refused_before_probing(option: str, tmp_path: Path) -> None:
    # No lab of that name exists: the path is refused first, so nothing is probed.
    r = invoke("check", "--lab", "tnosuchlab", option, str(tmp_path / "no" / "x"))
    assert r.code == 2, r.output
    assert f"{option} {tmp_path / 'no' / 'x'}: the directory {tmp_path / 'no'} does not" \
        " exist" in r.stderr
    assert "Traceback" not in r.output


LAB = """
[lab]
name = "{name}"
within = "0s"

[nodes.h1]
[nodes.h2]

[[links]]
endpoints = ["h1", "h2"]
subnet = "192.168.1.0/30"

[[expect]]
from = "h1"
to = "h2"
points = 3
hint = "NEVER-SHOWN"
[[expect]]
from = "h2"
to = "h1"
reach = false
points = 1.5
hint = "h2 must not reach h1: add a firewall"
"""


def test_check_writes_both_from_a_real_lab(labs: Labs, tmp_path: Path) -> None:
    p = labs.lab(LAB)
    path = labs.tmp / f"{p.lab}.toml"
    out_csv, out_gs = tmp_path / "grades.csv", tmp_path / "results.json"
    r = invoke("check", str(path), "--csv", str(out_csv), "--gradescope", str(out_gs))
    assert r.code == 1, r.output  # the second expectation fails
    data = json.loads(out_gs.read_text())
    check_gradescope(data)
    assert (data["score"], data["max_score"]) == (3, 4.5)
    assert [(t["status"], t["score"]) for t in data["tests"]] == [("passed", 3), ("failed", 0)]
    assert data["tests"][1]["output"].endswith("hint: h2 must not reach h1: add a firewall")
    assert "NEVER-SHOWN" not in out_gs.read_text() + out_csv.read_text()
    rows = list(csv.DictReader(out_csv.read_text().splitlines()))
    assert [(x["index"], x["result"], x["points"], x["score"]) for x in rows] == [
        ("0", "pass", "3", "3"), ("1", "fail", "1.5", "0")]
    assert rows[1]["hint"] == "h2 must not reach h1: add a firewall"
    assert rows[0]["title"] == "h1 -> h2 (192.168.1.2) icmp: reach"
