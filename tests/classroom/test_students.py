"""Students' own rootless labs, seen by root (docs/classroom.md, "Students' own labs"):
two real unprivileged users each run `netlab deploy` as themselves; root's `netlab class
status --users` and `class grade LAB --users` find both labs (rows named by user name)
and grade what is live in each user's namespaces with the teacher's expectations; a user
who is not root is refused, and a process merely named `netlab-holder` is not taken for
a student."""

from __future__ import annotations

import contextlib
import csv
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rootless import conftest as rootless
from tests.rootless.conftest import User, lab_name, need_root

# The real unprivileged users of tests/rootless (made for the module, removed after).
users = rootless.users
labfile = rootless.labfile


@pytest.fixture(scope="module")
def group(users: tuple[User, User]) -> Iterator[str]:
    """A Unix group of the two users: other tests' rootless users (with labs of their
    own, in any state) are left out of what these tests look at (--group)."""
    name = "nlg" + secrets.token_hex(3)
    subprocess.run(["groupadd", name], check=True, capture_output=True)
    try:
        for u in users:
            subprocess.run(["usermod", "-aG", name, u.name], check=True,
                           capture_output=True)
        yield name
    finally:
        subprocess.run(["groupdel", name], capture_output=True)

ROOT = Path(__file__).resolve().parents[2]


def _root(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netlab", *args], capture_output=True,
                          text=True, timeout=180, cwd=ROOT, env={
                              "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "COLUMNS": "200",
                              "LANG": "C.UTF-8", "HOME": "/root"})


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def _rows(out: str, user: str) -> list[str]:
    return [line for line in out.splitlines() if line.split()[:1] == [user]]


def test_root_sees_and_grades_every_students_own_lab(users: tuple[User, User], labfile,
                                                     group: str, tmp_path: Path) -> None:
    a, b = users
    name = lab_name()
    path = labfile("two-hosts", name)
    try:
        _ok(a.run("deploy", str(path)))
        _ok(b.run("deploy", str(path)))  # the same name: each user's own lab
        # b breaks theirs: no addresses, so neither expectation can pass
        _ok(b.run("exec", "h2", "--", "ip", "-4", "addr", "flush", "scope", "global"))

        r = _root("class", "status", "--users", name, "--group", group)
        out = r.stdout
        assert r.returncode == 1, (r.stdout, r.stderr)  # not every lab is as deployed
        assert [r.split()[1:3] for r in _rows(out, a.name)] == [[name, "up"]], out
        # b's lab is there and the address is gone: a drift
        assert [r.split()[1:3] for r in _rows(out, b.name)] == [[name, "drift:"]], out

        sheet = tmp_path / "grades.csv"
        r = _root("class", "grade", str(path), "--users", "--group", group, "--csv",
                  str(sheet))
        out = _ok(r)  # grades are results: exit 0 whatever the scores
        assert "2/2" in _rows(out, a.name)[0], out
        assert "0/2" in _rows(out, b.name)[0], out
        rows = {row["student"]: row for row in csv.DictReader(sheet.open())}
        assert rows[a.name]["score"] == "2" and rows[a.name]["lab"] == name, rows
        assert rows[b.name]["score"] == "0", rows

        # A teacher's separate expectations: only h1 -> h2, worth 3 points
        exp = tmp_path / "exam.toml"
        exp.write_text('[[expect]]\nfrom = "h1"\nto = "h2"\npoints = 3\n')
        out = _ok(_root("class", "grade", str(path), "--users", "--group", group,
                        "--expect", str(exp)))
        assert "3/3" in _rows(out, a.name)[0] and "0/3" in _rows(out, b.name)[0], out

        # The students' labs are untouched by being looked at: a's check still passes,
        # and a's lab is still a's alone (root's own netlab sees no such lab)
        _ok(a.run("check"))
        assert name not in _root("list").stdout
    finally:
        for u in (a, b):
            u.run("destroy", name)
    out = _ok(_root("class", "status", "--users", name, "--group", group))
    assert not _rows(out, a.name) and not _rows(out, b.name), out  # holders ended


def test_a_user_who_is_not_root_is_refused(users: tuple[User, User], labfile) -> None:
    a, b = users
    name = lab_name()
    path = labfile("two-hosts", name)
    try:
        _ok(a.run("deploy", str(path)))
        for args in (("class", "status", "--users"),
                     ("class", "grade", str(path), "--users")):
            r = b.run(*args)
            assert r.returncode == 2, (r.stdout, r.stderr)
            assert "needs root" in r.stderr and a.name not in r.stdout + r.stderr
    finally:
        a.run("destroy", name)


def test_a_process_only_named_netlab_holder_is_not_a_student(users: tuple[User, User],
                                                             group: str) -> None:
    _, b = users
    need_root()
    # b's process calls itself netlab-holder, in a user namespace b owns (as a holder
    # is), with b's environment (so b's state directory, which exists: a command made
    # it, and its holder ended with it), but that directory records no such holder
    _ok(b.run("list"))
    assert b.state.is_dir() and not (b.state / "holder.json").exists()
    fake = subprocess.Popen(["runuser", "-u", b.name, "--", "env", "-i",
                             *(f"{k}={v}" for k, v in b.env().items()), "unshare",
                             "--user", "--map-root-user", "bash", "-c",
                             "exec -a netlab-holder sleep 60"])
    try:
        import time

        def posing() -> list[int]:
            out = []
            for pid in b.pids():
                with contextlib.suppress(OSError):
                    if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(
                            b"netlab-holder\0") and os.readlink(f"/proc/{pid}/ns/user") \
                            != os.readlink("/proc/self/ns/user"):
                        out.append(pid)
            return out

        for _ in range(100):
            if posing():
                break
            time.sleep(0.05)
        assert posing(), "the fake holder did not start"
        out = _ok(_root("class", "status", "--users", "--group", group))
        assert not _rows(out, b.name), out
    finally:
        fake.kill()
        fake.wait()
