"""`netlab class grade` (every copy, one row per student as in the roster) and `netlab
grade TEACHER SUBMISSIONS...` (a broken or hostile submission is a failed row, never a
crash or a leftover)."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from netlab.classroom import record
from tests.classroom.conftest import LAN4, Classes, cli
from tests.support import host

pytestmark = pytest.mark.root

TWO = Path(__file__).resolve().parents[2] / "topologies" / "two-hosts.toml"


def test_class_grade_writes_every_sheet(classes: Classes, tmp_path: Path) -> None:
    cls = classes.name()
    roster_file = tmp_path / "roster.txt"
    roster_file.write_text("Ada Lovelace\n<script>alert(1)</script>\nAlan Turing\n")
    assert cli("class", "up", str(LAN4), "--roster", str(roster_file), "--name",
               cls).returncode == 0
    broken = record.read(cls).labs()[1]
    subprocess.run(["ip", "netns", "exec", f"{broken}-pc2", "ip", "addr", "flush", "dev",
                    "eth0"], check=True)
    out = tmp_path / "out"
    out.mkdir()
    r = cli("class", "grade", cls, "--csv", str(out / "g.csv"), "--json", str(out / "g.json"),
            "--html", str(out / "g.html"), "--gradescope", str(out / "gs"))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((out / "g.csv").open()))
    assert [r["student"] for r in rows] == ["Ada Lovelace", "<script>alert(1)</script>",
                                            "Alan Turing"]
    assert [r["score"] for r in rows] == ["4", "3", "4"]
    assert rows[1]["[0] pc1 -> pc2 (192.168.1.2) icmp: reach"] == "fail"
    data = json.loads((out / "g.json").read_text())
    assert data["students"][1]["report"]["failed"] == 1
    page = (out / "g.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count('class="fail">fail<') == 1
    index = list(csv.DictReader((out / "gs" / "students.csv").open()))
    assert index[1]["results"] == "002-script-alert-1-script/results.json"
    scope = json.loads((out / "gs" / "002-script-alert-1-script" / "results.json").read_text())
    assert scope["score"] == 3 and scope["max_score"] == 4 and len(scope["tests"]) == 4

    # A teacher's own expectations (a file of [[expect]] tables only).
    exp = tmp_path / "teacher.toml"
    exp.write_text('[[expect]]\nfrom = "pc1"\nto = "pc3"\npoints = 5\nhint = "look at pc3"\n')
    r = cli("class", "grade", cls, "--expect", str(exp), "--json", str(out / "t.json"))
    assert r.returncode == 0, r.stderr
    scores = [s["score"] for s in json.loads((out / "t.json").read_text())["students"]]
    assert scores == [5, 5, 5]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[expect]]\nfrom = "pc1"\nwhat = 1\n')
    r = cli("class", "grade", cls, "--expect", str(bad))
    assert r.returncode == 2 and "bad.toml" in r.stderr and "what" in r.stderr
    bad.write_text('[[expect]]\nfrom = "pc1"\nto = "pc9"\n')
    r = cli("class", "grade", cls, "--expect", str(bad))
    assert r.returncode == 2, r.stderr
    assert f"{bad}: expect[0].to: 'pc9' is neither a node" in r.stderr


def _write(d: Path, name: str, text: str) -> str:
    (d / name).write_text(text)
    return str(d / name)


def test_grade_submissions_hostile_and_broken_are_failed_rows(
        classes: Classes, tmp_path: Path) -> None:
    deployed = classes.lab()
    d = tmp_path
    mine = _write(d, "deployed.toml", TWO.read_text().replace('name = "two-hosts"',
                                                              f'name = "{deployed}"'))
    assert cli("deploy", mine).returncode == 0
    good = _write(d, "good.toml", TWO.read_text())
    subs = [
        good,
        _write(d, "notoml.toml", "this is [not toml"),
        _write(d, "exec.toml", '[lab]\nname = "x"\n[nodes.h1]\nexec = ["touch /tmp/pwn"]\n'
               '[nodes.h2]\n[[links]]\nendpoints = ["h1", "h2"]\n'),
        _write(d, "names.toml", '[lab]\nname = "../../etc"\n[nodes."h1;rm"]\n'),
        # Named like a lab that is deployed: graded under netlab's own name, and the
        # deployed lab is left alone.
        mine,
        _write(d, "wrong.toml", '[lab]\nname = "w"\n[nodes.h1]\n[nodes.h3]\n'
               '[[links]]\nendpoints = ["h1", "h3"]\n'),
        str(d / "missing.toml"),
        _write(d, "huge.toml", '[lab]\nname = "h"\n' + "".join(
            f"[nodes.h{i}]\n" for i in range(1, 40)) + "".join(
            f'[[links]]\nendpoints = ["h1", "h{i}"]\n' for i in range(2, 40))),
    ]
    out = d / "out.csv"
    r = cli("grade", str(TWO), *subs, "--csv", str(out), "--max-namespaces", "20")
    assert r.returncode == 0, r.stderr
    rows = {Path(row["student"]).name: row for row in csv.DictReader(out.open())}
    assert rows["good.toml"]["score"] == "2"
    assert rows["deployed.toml"]["score"] == "2"
    for name, why in [("notoml.toml", "TOML syntax error"),
                      ("exec.toml", "nodes.h1.exec: a submission may not run commands"),
                      ("names.toml", "h1;rm"), ("wrong.toml", "'h2'"),
                      ("missing.toml", "cannot read"),
                      ("huge.toml", "needs 39 namespaces; a submission may have at most 20")]:
        assert rows[name]["score"] == "0" and why in rows[name]["error"], rows[name]
    assert not Path("/tmp/pwn").exists()
    labs = cli("list").stdout
    assert deployed in labs and "grade-" not in labs
    assert not any(n.startswith("grade-") for n in host.netns_names())
    assert cli("destroy", deployed).returncode == 0


def test_grade_submission_whose_deploy_fails_is_a_failed_row(
        classes: Classes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from netlab.classroom import grade
    from netlab.errors import NetlabError
    from netlab.lab import Lab

    real = Lab.deploy.__func__  # type: ignore[attr-defined]
    made: list[str] = []

    def failing(cls, plan, **kw):  # type: ignore[no-untyped-def]
        made.append(plan.lab)
        real(cls, plan, **kw)  # built, then the machine fails: must still be destroyed
        raise NetlabError("no more veths")

    monkeypatch.setattr(Lab, "deploy", classmethod(failing))
    name, grades = grade.grade_submissions(str(TWO), [str(TWO)])
    assert grades[0].score == 0 and "deploy failed: no more veths" in grades[0].error
    assert made and not host.settled_leftovers(made[0])


def test_files_beside_a_submission_are_refused_unless_trusted(
        classes: Classes, tmp_path: Path) -> None:
    """A `<dir>/h1/` directory beside a submission would be mirrored into its node h1
    (and a class's submissions often share one directory)."""
    from netlab.classroom import grade

    (tmp_path / "h1" / "etc").mkdir(parents=True)
    (tmp_path / "h1" / "etc" / "motd").write_text("placed\n")
    sub = _write(tmp_path, "alice.toml", TWO.read_text())
    _, (g,) = grade.grade_submissions(str(TWO), [sub])
    assert g.score == 0
    assert "nodes.h1: files" in g.error and "--trust" in g.error
    _, (g,) = grade.grade_submissions(str(TWO), [sub], trust=True)
    assert g.score == 2, g.error
