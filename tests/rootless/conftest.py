"""Two unprivileged users, made for this run and removed afterwards (even on failure),
who run netlab without root.

The interpreter must be one they can run: here it is pyenv's, under /root (mode 0700), so
each test user gets a POSIX ACL entry allowing search (x, not read) on every directory
above sys.executable and the netlab package that they could not pass (acl.py), taken back
at the end with the directory's mode restored.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.rootless import acl

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = ROOT / "topologies"


def _userns_ok() -> bool:
    try:
        return Path("/proc/sys/user/max_user_namespaces").read_text().strip() != "0"
    except OSError:
        return False


def need_root() -> None:
    if os.geteuid() != 0 or not shutil.which("useradd") or not _userns_ok():
        pytest.skip("needs root (to make test users), useradd and user namespaces")


@dataclass
class User:
    name: str
    uid: int
    xdg: Path  # its XDG_RUNTIME_DIR, made for it (0700)

    @property
    def state(self) -> Path:
        return self.xdg / "netlab"

    def env(self) -> dict[str, str]:
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.xdg),
                "XDG_RUNTIME_DIR": str(self.xdg), "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200"}

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`netlab ARGS` as this user (the interpreter running the tests)."""
        return self.cmd(sys.executable, "-m", "netlab", *args, timeout=timeout)

    def cmd(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", self.name, "--", "env", "-i",
                               *(f"{k}={v}" for k, v in self.env().items()), *argv],
                              capture_output=True, text=True, timeout=timeout, cwd=ROOT)

    def holder(self) -> int | None:
        """The pid of this user's holder, from its record (None: no record)."""
        try:
            return int(json.loads((self.state / "holder.json").read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None

    def pids(self) -> list[int]:
        """Live processes of this user (by uid; zombies excluded)."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                status = Path(f"/proc/{d}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if fields.get("Uid", "").split()[:1] == [str(self.uid)] and \
                    not fields.get("State", "").strip().startswith("Z"):
                out.append(int(d))
        return out


def _make_user(tag: str) -> User:
    name = f"nlr{tag}{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "--user-group", name], check=True, capture_output=True)
    uid = pwd.getpwnam(name).pw_uid
    xdg = Path(f"/tmp/{name}-xdg")
    xdg.mkdir(mode=0o700)
    os.chown(xdg, uid, pwd.getpwnam(name).pw_gid)
    return User(name, uid, xdg)


def _remove_user(u: User) -> None:
    # Every process of the user's, by pid (the holder first: its PID namespace goes with
    # it), then the user and the directory made for it.
    for _ in range(50):
        pids = u.pids()
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    subprocess.run(["userdel", u.name], capture_output=True)
    shutil.rmtree(u.xdg, ignore_errors=True)
    shutil.rmtree(f"/tmp/netlab-{u.uid}", ignore_errors=True)


def _blocked_dirs(uids: list[int]) -> list[str]:
    """Directories above the interpreter and netlab that others cannot search."""
    out: list[str] = []
    for target in (Path(sys.executable).resolve(), ROOT):
        for d in reversed(target.parents):
            st = os.stat(d)
            if not st.st_mode & 0o001 and str(d) not in out:
                out.append(str(d))
    return out


@pytest.fixture(scope="module")
def users() -> Iterator[tuple[User, User]]:
    need_root()
    made: list[User] = []
    granted: list[tuple[str, tuple[int, bytes | None]]] = []
    try:
        made = [_make_user("a"), _make_user("b")]
        for d in _blocked_dirs([u.uid for u in made]):
            granted.append((d, acl.grant_search(d, [u.uid for u in made])))
        yield made[0], made[1]
    finally:
        for u in made:
            _remove_user(u)
        for d, saved in reversed(granted):
            acl.revoke(d, saved)


@pytest.fixture
def labfile() -> Iterator[callable]:  # type: ignore[valid-type]
    """write(bundled, name) -> path of a copy of a bundled lab under a unique name, in a
    directory the test users can read."""
    d = Path(f"/tmp/nlr-labs-{secrets.token_hex(4)}")
    d.mkdir(mode=0o755)

    def write(bundled: str, name: str, extra: str = "") -> Path:
        text = (TOPOLOGIES / f"{bundled}.toml").read_text()
        old = f'name = "{bundled}"'
        assert old in text
        p = d / f"{name}.toml"
        p.write_text(text.replace(old, f'name = "{name}"', 1) + extra)
        p.chmod(0o644)
        return p

    try:
        yield write
    finally:
        shutil.rmtree(d, ignore_errors=True)


def lab_name() -> str:
    return "r" + secrets.token_hex(4)
