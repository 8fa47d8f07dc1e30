"""docs/teaching.md does what it says: every command of its ```console blocks is run, in
the page's order, and its stated answer checked.

- `teacher$ CMD` runs in bash as root, `student$ CMD` as a real unprivileged user made
  for the run (tests/rootless/conftest.py), both in one scratch directory with `netlab`
  (this checkout's) and `sudo` (which just runs the command: the teacher is root here)
  first on PATH; a trailing `\\` continues a command on the next line;
- a trailing `# ... => OUTCOME` states the answer, as in the lessons
  (tests/labs/test_lessons.py parse_outcome: `exit N`, `"text"`, `N x "text"`); without
  one the command must exit 0;
- unique names: the page's class `net101` (and `net102`) become this run's class names,
  and `--group students` the test user's own group (so that other tests' rootless users
  are not graded with ours); the student's lab lives in that user's own namespaces, so
  its bundled name cannot collide;
- a few commands change the machine for every user, and are not run (SKIP says why).
Everything is removed at the end, also on failure: the class (classes fixture), the
student's lab (destroyed, then the user and their processes: the users fixture).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.classroom.conftest import Classes
from tests.labs.test_lessons import Texts, _split_comment, parse_outcome
from tests.rootless import conftest as rootless
from tests.rootless.conftest import User

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "teaching.md"
TIMEOUT = 120.0
users = rootless.users  # two real unprivileged users, made for the module

# Commands of the page not run here: (the command's start) -> why.
SKIP = {
    "sudo bash scripts/install.sh": "installs system packages; this machine has them",
    "sudo sysctl -w user.max_net_namespaces": "changes every user's limit on the machine",
    "sudo systemctl set-property": "changes every user's systemd slice on the machine",
}


@dataclass
class Step:
    who: str  # "teacher" or "student"
    text: str
    line: int
    code: int
    texts: Texts


def steps(path: Path = DOC) -> list[Step]:
    """The page's commands, in order."""
    out: list[Step] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    inside, pending, who, start = False, "", "", 0
    for n, raw in enumerate(lines, 1):
        if raw.strip().startswith("```"):
            inside = raw.strip() == "```console"
            continue
        if not inside:
            continue
        if not pending:
            m = re.match(r"(teacher|student)\$ (.*)", raw)
            if not m:
                continue  # a line of output shown on the page
            who, raw, start = m.group(1), m.group(2), n
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1].strip() + " "
            continue
        text, comment = _split_comment(pending + raw.strip())
        pending = ""
        code, texts = parse_outcome(comment, f"{path.name}:{start}")
        out.append(Step(who, text, start, code, texts))
    return out


def test_the_page_has_commands_for_both_and_every_skip_matches_one() -> None:
    got = steps()
    assert {s.who for s in got} == {"teacher", "student"}
    assert len(got) > 20
    for start in SKIP:
        assert any(s.text.startswith(start) for s in got), f"SKIP {start!r} matches nothing"
    assert sum(s.code != 0 or bool(s.texts) for s in got) > 15  # most say what they answer


def _scratch(python: str) -> Path:
    work = Path(f"/tmp/nlteach-{secrets.token_hex(4)}")
    (work / "bin").mkdir(parents=True)
    work.chmod(0o755)  # the student runs there too (and writes nothing)
    (work / "bin").chmod(0o755)
    for name, body in (("netlab", f'exec {python} -m netlab "$@"\n'),
                       ("sudo", 'exec "$@"\n')):
        p = work / "bin" / name
        p.write_text("#!/bin/sh\n" + body)
        p.chmod(0o755)
    return work


def _run(step: Step, text: str, work: Path, student: User) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{work / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "COLUMNS": "200", "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    if step.who == "teacher":
        argv = ["bash", "-c", text]
        env["HOME"] = "/root"
    else:
        env |= {"HOME": str(student.xdg), "XDG_RUNTIME_DIR": str(student.xdg)}
        argv = ["runuser", "-u", student.name, "--", "env", "-i",
                *(f"{k}={v}" for k, v in env.items()), "bash", "-c", text]
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, cwd=work,
                          env=env)


def test_teaching_page_start_to_finish(users: tuple[User, User], classes: Classes) -> None:
    student = users[0]
    names = {"net101": classes.name(), "net102": classes.name()}
    work = _scratch(sys.executable)
    ran = 0
    took: list[tuple[float, int]] = []
    try:
        for step in steps():
            if any(step.text.startswith(s) for s in SKIP):
                continue
            text = step.text.replace("--group students", f"--group {student.name}")
            texts = list(step.texts)
            for old, new in names.items():
                text = text.replace(old, new)
                texts = [(t.replace(old, new), k) for t, k in texts]
            t0 = time.monotonic()
            r = _run(step, text, work, student)
            took.append((time.monotonic() - t0, step.line))
            out = r.stdout + r.stderr
            where = f"teaching.md:{step.line}: {step.who}$ {text}\nexit {r.returncode}\n{out}"
            assert r.returncode == step.code, where
            for t, k in texts:
                if k is None:
                    assert t in out, f"{where}\nmissing: {t!r}"
                else:
                    assert out.count(t) == k, f"{where}\nwanted {k} x {t!r}"
            ran += 1
    finally:
        _run(Step("student", "", 0, 0, []), "netlab destroy two-hosts", work, student)
        shutil.rmtree(work, ignore_errors=True)
        print("slowest steps (s, line):", sorted(took, reverse=True)[:6])
    assert ran == len(steps()) - len(SKIP)
    assert not os.path.exists(work)
