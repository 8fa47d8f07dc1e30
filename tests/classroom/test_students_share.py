"""A teacher without root sees a student's own rootless lab through `netlab class share`
(docs/classroom.md, "Students' own labs"): real unprivileged users, a real Unix group.
The student shares in a sticky directory with the teacher group; a member of the group
gets the status and the grade; a user who is not a member is refused (by the peer's
credentials, checked by the student's side)."""

from __future__ import annotations

import contextlib
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rootless import acl
from tests.rootless import conftest as rootless
from tests.rootless.conftest import ROOT, User, lab_name

users = rootless.users
labfile = rootless.labfile


@pytest.fixture
def outsider(users: tuple[User, User]) -> Iterator[User]:
    """A third user, in no group of the test's (with access to the interpreter)."""
    u = rootless._make_user("c")
    granted = []
    try:
        for d in rootless._blocked_dirs([u.uid]):
            granted.append((d, acl.grant_search(d, [u.uid])))
        yield u
    finally:
        rootless._remove_user(u)
        for d, saved in reversed(granted):
            acl.revoke(d, saved)


@pytest.fixture
def teachers(users: tuple[User, User]) -> Iterator[str]:
    """A Unix group whose one member is the second test user (the teacher)."""
    name = "nlg" + secrets.token_hex(3)
    subprocess.run(["groupadd", name], check=True, capture_output=True)
    try:
        subprocess.run(["usermod", "-aG", name, users[1].name], check=True,
                       capture_output=True)
        yield name
    finally:
        subprocess.run(["groupdel", name], capture_output=True)


def _share(student: User, directory: Path, group: str) -> subprocess.Popen[str]:
    p = subprocess.Popen(["runuser", "-u", student.name, "--", "env", "-i",
                          *(f"{k}={v}" for k, v in student.env().items()),
                          sys.executable, "-m", "netlab", "class", "share", str(directory),
                          "--group", group], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    sel = selectors.DefaultSelector()
    assert p.stdout is not None
    sel.register(p.stdout, selectors.EVENT_READ)
    assert sel.select(timeout=30), "class share said nothing"
    line = p.stdout.readline()
    assert "sharing your labs" in line, line + p.stdout.read() if p.poll() is not None \
        else line
    return p


def test_a_teacher_group_member_sees_and_grades_a_shared_lab_and_others_are_refused(
        users: tuple[User, User], outsider: User, teachers: str, labfile,
        tmp_path: Path) -> None:
    student, teacher = users
    name = lab_name()
    path = labfile("two-hosts", name)
    shared = Path(f"/tmp/nlshare-{secrets.token_hex(4)}")
    shared.mkdir()
    shared.chmod(0o1777)
    server = None
    try:
        r = student.run("deploy", str(path))
        assert r.returncode == 0, r.stderr
        server = _share(student, shared, teachers)
        sock = shared / f"{student.name}.sock"
        assert sock.is_socket() and os.lstat(sock).st_uid == student.uid

        r = teacher.run("class", "status", "--shared", str(shared), name)
        assert r.returncode == 0, (r.stdout, r.stderr)
        row = [x for x in r.stdout.splitlines() if x.split()[:1] == [student.name]]
        assert [x.split()[1:3] for x in row] == [[name, "up"]], r.stdout
        assert "their own answers" in r.stdout

        r = teacher.run("class", "grade", str(path), "--shared", str(shared))
        assert r.returncode == 0, (r.stdout, r.stderr)
        row = [x for x in r.stdout.splitlines() if x.split()[:1] == [student.name]]
        assert row and "2/2" in row[0], r.stdout

        # A command expectation would run the teacher's argv as the student: not here
        exam = Path(f"{shared}/exam.toml")
        exam.write_text('[[expect]]\nfrom = "h1"\ncommand = { run = ["id"] }\n')
        exam.chmod(0o644)
        r = teacher.run("class", "grade", str(path), "--shared", str(shared),
                        "--expect", str(exam))
        row = [x for x in r.stdout.splitlines() if x.split()[:1] == [student.name]]
        assert row and "0/1" in row[0] and "command" in row[0], (r.stdout, r.stderr)

        # Not in the group: refused, and nothing of the lab is said
        for args in (("class", "status", "--shared", str(shared), name),
                     ("class", "grade", str(path), "--shared", str(shared))):
            r = outsider.run(*args)
            row = [x for x in r.stdout.splitlines() if x.split()[:1] == [student.name]]
            assert row and "refused" in row[0] and "not in the teacher group" in row[0], \
                (r.stdout, r.stderr)
            assert "2/2" not in r.stdout and " up" not in row[0]
        # ... and cannot take the student's socket away (the directory is sticky)
        r = outsider.cmd("rm", "-f", str(sock))
        assert r.returncode != 0 and sock.is_socket()
    finally:
        if server is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        student.run("destroy", name)
        shutil.rmtree(shared, ignore_errors=True)
