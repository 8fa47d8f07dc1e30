"""A teacher without root looking at students' own rootless labs: the student shares
them (`netlab class share DIR --group TEACHERS`), the teacher asks (`netlab class status
--shared DIR`, `netlab class grade LAB --shared DIR`). docs/classroom.md, "Students'
own labs".

- **The student's side** (`serve`): a Unix socket `DIR/<user>.sock` in a sticky
  directory (nobody else can remove or replace it), 0666: the check is the peer's
  credentials (SO_PEERCRED, the kernel's word on who connected), which must be a member
  of the teacher group (primary or listed, read at each connection) or root. Anyone
  else gets "refused" and nothing more. A member's request (status, or a check with the
  plan the teacher compiled; no `command` expectations: they would run the teacher's
  argv as the student) runs in a child that joins the student's holder as the
  student's own netlab does (backends/userns/join.py enter) and answers in JSON.
- **The teacher's side** (`ask_all`): every `<user>.sock` in DIR that is a socket owned
  by that very user (so nobody answers in another's name), asked in turn, with a timeout.

What this cannot be: tamper-proof. The answer comes from a process the student runs:
the student can make it say anything. `sudo netlab class ... --users` (students.py) is
the way that the student cannot forge.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import socket
import stat
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netlab.errors import NetlabError, UsageError

REQUEST_MAX = 4 << 20  # bytes: a plan with its expectations
ANSWER_MAX = 16 << 20
TIMEOUT = 120.0
REFUSED_WAIT = 2.0  # seconds a refused peer's request is read for


def socket_path(directory: Path, uid: int | None = None) -> Path:
    uid = os.geteuid() if uid is None else uid
    return directory / f"{pwd.getpwuid(uid).pw_name}.sock"


def _shared_dir(directory: Path) -> Path:
    """DIR must be a real directory with the sticky bit (like /tmp): nobody can remove
    or rename another user's socket there."""
    try:
        st = os.lstat(directory)
    except OSError as e:
        raise UsageError(f"{directory}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode) or not st.st_mode & stat.S_ISVTX:
        raise UsageError(f"{directory} is not a directory with the sticky bit; the"
                         f" teacher makes one with `sudo install -d -m 1777 {directory}`")
    return directory


# --- the student's side -------------------------------------------------------------------

def serve(directory: Path, group: str, ready: Callable[[Path], None] | None = None) -> None:
    """Answer the teacher group's members until killed (Ctrl-C)."""
    from netlab.classroom.students import group_members

    if os.geteuid() == 0:
        raise UsageError("`netlab class share` is for students without root: root's labs"
                         " are seen by `netlab class status` as they are")
    group_members(group)  # an unknown group: said now, not at the first connection
    path = socket_path(_shared_dir(directory))
    with contextlib.suppress(FileNotFoundError):
        st = os.lstat(path)
        if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid():
            raise UsageError(f"{path} exists and is not a socket of yours; remove it")
        os.unlink(path)  # ours, left by an earlier share
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        srv.bind(str(path))
        os.chmod(path, 0o666)  # connecting needs write; the peer check is the guard
        srv.listen(16)
        if ready is not None:
            ready(path)
        while True:
            conn, _ = srv.accept()
            with conn:
                _answer(conn, group)
    finally:
        srv.close()
        with contextlib.suppress(OSError):
            if os.lstat(path).st_uid == os.geteuid():
                os.unlink(path)


def _peer(conn: socket.socket) -> tuple[int, int, int]:
    data = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", data)
    return pid, uid, gid


def allowed(uid: int, group: str) -> bool:
    from netlab.classroom.students import group_members

    return uid == 0 or uid in group_members(group)


def _answer(conn: socket.socket, group: str) -> None:
    conn.settimeout(TIMEOUT)
    try:
        _pid, uid, _gid = _peer(conn)
        if not allowed(uid, group):
            # Read (and drop) what was sent first: closing on unread data would reset
            # the connection before the refusal is read.
            conn.settimeout(REFUSED_WAIT)  # a stranger does not hold the student's side
            with contextlib.suppress(OSError, ValueError):
                _receive(conn, REQUEST_MAX)
            _send(conn, {"error": f"refused: uid {uid} is not in the teacher group"
                                  f" {group!r}"})
            return
        request = json.loads(_receive(conn, REQUEST_MAX))
        if not isinstance(request, dict):
            raise ValueError("not an object")
        _send(conn, _inside(request))
    except (OSError, ValueError, NetlabError) as e:
        with contextlib.suppress(OSError):
            _send(conn, {"error": f"bad request: {e}"})


def _inside(request: dict[str, Any]) -> dict[str, Any]:
    """Run the request in a child that joins the student's namespaces: its answer."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (a child: never returns)
        code = 1
        try:
            os.close(r)
            from netlab.backends.userns import join

            join.enter()  # returns in the grandchild, inside; the child exits there
            answer = {"result": _work(request)}
            code = 0
        except BaseException as e:  # noqa: BLE001
            answer = {"error": str(e) if isinstance(e, NetlabError) else
                      f"{type(e).__name__}: {e}"}
        with contextlib.suppress(OSError):
            os.write(w, json.dumps(answer).encode())  # a pipe: blocks until all is in
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read(ANSWER_MAX + 1)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    try:
        answer = json.loads(data)
    except ValueError:
        return {"error": "the process looking at the lab ended without an answer"}
    return answer if isinstance(answer, dict) else {"error": "a malformed answer"}


def _work(request: dict[str, Any]) -> Any:
    from netlab.classroom import students
    from netlab.plan.model import Plan

    verb = request.get("verb")
    if verb == "status":
        lab = request.get("lab")
        return students._status_inside(lab if isinstance(lab, str) else None)
    if verb == "check":
        plan = Plan.from_json(str(request.get("plan", "")))
        if any(e.command is not None for e in plan.expect):
            # It would run the teacher's argv as the student, with the student's files
            # in reach: not something a group membership should give.
            raise ValueError("a `command` expectation is not run for a teacher without"
                             " root: grade with `sudo netlab class grade LAB --users`")
        return students._check_inside(plan)
    raise ValueError(f"unknown verb {verb!r}")


def _send(conn: socket.socket, obj: dict[str, Any]) -> None:
    conn.sendall(json.dumps(obj).encode())
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_WR)


def _receive(conn: socket.socket, limit: int) -> bytes:
    out = bytearray()
    while chunk := conn.recv(1 << 16):
        out += chunk
        if len(out) > limit:
            raise ValueError("too big")
    return bytes(out)


# --- the teacher's side -------------------------------------------------------------------

def sockets(directory: Path) -> list[tuple[str, Path]]:
    """(user, socket) for every `<user>.sock` in DIR that is a socket owned by that user,
    sorted by user name."""
    out = []
    for e in os.scandir(_shared_dir(directory)):
        if not e.name.endswith(".sock"):
            continue
        try:
            st = os.lstat(e.path)
            owner = pwd.getpwuid(st.st_uid).pw_name
        except (OSError, KeyError):
            continue
        if stat.S_ISSOCK(st.st_mode) and e.name == f"{owner}.sock":
            out.append((owner, Path(e.path)))
    return sorted(out)


def ask(path: Path, request: dict[str, Any]) -> tuple[Any, str]:
    """One student's answer: (result, "") or (None, why not)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(TIMEOUT)
            c.connect(str(path))
            c.sendall(json.dumps(request).encode())
            c.shutdown(socket.SHUT_WR)
            answer = json.loads(_receive(c, ANSWER_MAX))
    except (OSError, ValueError) as e:
        return None, f"no answer from {path}: {getattr(e, 'strerror', None) or e}"
    if not isinstance(answer, dict) or ("error" in answer) == ("result" in answer):
        return None, "a malformed answer"
    if "error" in answer:
        return None, str(answer["error"])
    return answer["result"], ""


def status(directory: Path, lab: str | None = None) -> list[Any]:
    """students.LabRow per shared lab (or per student without one)."""
    from netlab.classroom.students import LabRow
    from netlab.names import check_lab_name

    if lab is not None:
        check_lab_name(lab, "lab")
    rows: list[LabRow] = []
    for user, path in sockets(directory):
        got, why = ask(path, {"verb": "status", "lab": lab})
        if got is None:
            rows.append(LabRow(user, lab or "", "error", why))
            continue
        labs = [x for x in got if isinstance(x, list) and len(x) == 3] \
            if isinstance(got, list) else []
        if not labs:
            rows.append(LabRow(user, lab or "", "missing" if lab else "no lab",
                               "not deployed" if lab else ""))
        rows += [LabRow(user, str(n), str(s), str(d)) for n, s, d in labs]
    return rows


def grade(lab: str, directory: Path, expect_file: str | Path | None = None
          ) -> tuple[str, list[Any]]:
    from netlab.classroom import students

    name, plan, full = students.teacher_plan(lab, expect_file)
    grades = []
    for user, path in sockets(directory):
        got, why = ask(path, {"verb": "check", "plan": plan.to_json()})
        grades.append(students.grade_of(user, name, got, why, full))
    return name, grades

