"""The teaching verbs' refusals: exit 2 with a message saying what to do, before
anything is deployed, probed or written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import invoke


@pytest.mark.parametrize(("argv", "said"), [
    (["class", "up", "lan4"], "give the students: --roster FILE"),
    (["class", "up", "lan4", "--count", "2", "--roster", "/nonexistent"],
     "give the students"),
    (["class", "up", "lan4", "--roster", "/nonexistent/roster"], "cannot read the roster"),
    (["class", "up", "lan4", "--count", "2", "--memory", "lots"], "give a size such as"),
    (["class", "up", "lan4", "--count", "2", "--cpus", "0"], "give a number of CPUs"),
    (["class", "up", "lan4", "--count", "2", "--name", "Bad Name"], "class name"),
    (["class", "status", "nosuchclass"], "no class named 'nosuchclass'"),
    (["class", "down", "nosuchclass"], "no class named 'nosuchclass'"),
    (["class", "grade", "nosuchclass", "--csv", "/nonexistent/dir/g.csv"],
     "--csv /nonexistent/dir/g.csv: the directory /nonexistent/dir does not exist"),
    (["class", "grade", "../etc"], "class name: lab name '../etc' contains"),
    (["restore", "nosuchlab", "Bad"], "checkpoint name 'Bad'"),
])
def test_refusals(argv: list[str], said: str, monkeypatch: pytest.MonkeyPatch,
                  tmp_path: Path) -> None:
    monkeypatch.setenv("NETLAB_RUN_DIR", str(tmp_path))  # no class exists here
    code, out, err = invoke(*argv)
    assert code == 2, (out, err)
    assert said in err, err
    assert "Traceback" not in out + err


def test_grade_without_expectations_is_refused(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETLAB_RUN_DIR", str(tmp_path))
    f = tmp_path / "t.toml"
    f.write_text('[lab]\nname = "t"\n[nodes.h1]\n')
    code, _, err = invoke("grade", str(f), str(f))
    assert code == 2 and "has no [[expect]] tables: nothing to grade with" in err
