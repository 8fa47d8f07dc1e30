"""Students' own rootless labs, seen by root: `netlab class status --users` and `netlab
class grade LAB --users` (docs/classroom.md, "Students' own labs").

A student without sudo runs `netlab deploy LAB` as themself: the lab lives in their
holder's namespaces (backends/userns), out of reach of every other user, the teacher
included. Only root can enter another user's user namespace, so root is the way in:

- **finding them**: every process named `netlab-holder` whose user namespace is owned by
  its uid, whose state directory (as rootless mode chooses it: $XDG_RUNTIME_DIR/netlab,
  else /tmp/netlab-<uid>; a private directory of that uid's) records that very process
  (pid and start time). Anything else is skipped: a process merely named so proves
  nothing;
- **looking inside**: one child per student (forked from the main thread, so single
  threaded) drops root's groups, marks itself not dumpable (the student cannot ptrace it),
  enters the holder's user, mount, network, UTS and PID namespaces through descriptors
  opened while the holder was checked, becomes uid 0 *of that namespace* (the student's
  own uid outside: exactly what the student's own `netlab` command is, no more), forks
  into the PID namespace and runs the status or the check there with the kernel backend,
  on the student's run directory. The answer comes back as JSON through a pipe (never
  pickled: the child runs among the student's processes); anything wrong is that row's
  error;
- **grading** uses the teacher's expectations (the LAB file or --expect FILE), compiled
  by root from the teacher's file under the lab's own name, never the plan the student's
  state holds (the student could edit that): the probes look at the student's live
  namespaces, which is what is graded.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import pwd
import select
import signal
import stat
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netlab.errors import NetlabError

HOLDER_NAME = b"netlab-holder"  # backends/userns/holder.py NAME: its argv[0]
ANSWER_TIMEOUT = 120.0  # seconds one student's status or check may take
ANSWER_MAX = 16 << 20  # bytes of JSON one student's child may send
PR_SET_DUMPABLE = 4
PR_SET_PDEATHSIG = 1
# Students looked at at once: each is a process, mostly waiting on the kernel or on
# probes' answers (10 students, status: 2 at a time 4.3 s, 8 at a time 1.3 s).
WORKERS = 8


@dataclass(frozen=True)
class Student:
    user: str  # login name (or the uid, if it has none)
    uid: int
    holder: int  # the holder's pid (host's pid namespace)
    started: int  # and its start time: the pair names that one process
    state: Path  # the student's state directory (its labs/ is the run directory)


# --- finding students -------------------------------------------------------------------

def find(group: str | None = None) -> list[Student]:
    """Every user's live holder, checked (see the module doc), sorted by user name; with
    `group`, only the users in that Unix group (e.g. the class's students)."""
    from netlab.backends.userns import state

    members = None if group is None else group_members(group)
    found: dict[int, Student] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read(len(HOLDER_NAME) + 1) != HOLDER_NAME + b"\0":
                    continue
            uid = os.stat(f"/proc/{pid}").st_uid
            if members is not None and uid not in members:
                continue
            started = state.start_time(pid)
            if started is None or _userns_owner(pid) != uid:
                continue
        except OSError:
            continue  # gone meanwhile, or not readable
        home = _state_of(pid, uid, started)
        if home is not None and uid not in found:
            found[uid] = Student(_user_name(uid), uid, pid, started, home)
    return sorted(found.values(), key=lambda s: (s.user, s.uid))


def group_members(group: str) -> set[int]:
    """uids of the users in Unix group `group`: those whose primary group it is, and
    those it lists."""
    import grp

    from netlab.errors import UsageError

    try:
        g = grp.getgrnam(group)
    except KeyError:
        raise UsageError(f"no group named {group!r} (--group: the Unix group of the"
                         " class's students)") from None
    uids = {u.pw_uid for u in pwd.getpwall() if u.pw_gid == g.gr_gid}
    for name in g.gr_mem:
        with contextlib.suppress(KeyError):
            uids.add(pwd.getpwnam(name).pw_uid)
    return uids


def _userns_owner(pid: int) -> int | None:
    from netlab.backends.userns.join import NS_GET_OWNER_UID

    fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.fstat(fd).st_ino == os.stat("/proc/self/ns/user").st_ino:
            return None  # not in a user namespace of its own: not a holder
        return int(struct.unpack("I", fcntl.ioctl(fd, NS_GET_OWNER_UID, b"\0" * 4))[0])
    finally:
        os.close(fd)


def _state_of(pid: int, uid: int, started: int) -> Path | None:
    """The holder's state directory: where rootless mode would put it for that user
    (its XDG_RUNTIME_DIR, as the holder was started with it, else /tmp/netlab-<uid>),
    if that is a private directory of the user's whose record names this holder."""
    from netlab.backends.userns import state

    candidates = []
    xdg = _environ(pid).get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg):
        candidates.append(Path(os.path.normpath(xdg)) / state.STATE_NAME)
    candidates += [Path(f"/run/user/{uid}") / state.STATE_NAME, Path(f"/tmp/netlab-{uid}")]
    for home in candidates:
        try:
            st = os.lstat(home)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
            continue
        if state.read_record(home) == (pid, started):
            return home
    return None


def _environ(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read(1 << 16)
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            out[k.decode(errors="replace")] = v.decode(errors="replace")
    return out


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


# --- running something inside a student's namespaces -------------------------------------

Work = Callable[[], Any]  # runs inside; returns something json.dumps takes


def run_each(students: list[Student], work: Callable[[Student], Work],
             workers: int) -> list[tuple[Any, str]]:
    """work(student)() run inside each student's namespaces, `workers` at a time: per
    student (the JSON answer, "") or (None, why it failed). Needs root."""
    from netlab.errors import require_root

    require_root("class ... --users")
    results: list[tuple[Any, str]] = [(None, "not run")] * len(students)
    running: dict[int, tuple[int, int, bytearray, float]] = {}  # fd -> (index, pid, ...)
    todo = list(range(len(students)))
    while todo or running:
        while todo and len(running) < max(1, workers):
            i = todo.pop(0)
            pid, fd = _spawn(students[i], work(students[i]))
            running[fd] = (i, pid, bytearray(), time.monotonic() + ANSWER_TIMEOUT)
        deadline = min(d for _, _, _, d in running.values())
        ready, _, _ = select.select(list(running), [], [], max(0.0, deadline - time.monotonic()))
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            buf = running[fd][2]
            buf += chunk
            if chunk and len(buf) <= ANSWER_MAX:
                continue
            i, pid, _, _ = running.pop(fd)
            results[i] = _finish(pid, fd, bytes(buf), too_big=len(buf) > ANSWER_MAX)
        now = time.monotonic()
        for fd in [fd for fd, (_, _, _, d) in running.items() if d <= now]:
            i, pid, _, _ = running.pop(fd)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            _finish(pid, fd, b"")
            results[i] = (None, f"no answer within {ANSWER_TIMEOUT:.0f} s")
    return results


def _finish(pid: int, fd: int, data: bytes, too_big: bool = False) -> tuple[Any, str]:
    os.close(fd)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    if too_big:
        return None, "the answer was too big"
    try:
        answer = json.loads(data.decode())
    except ValueError:
        return None, "no answer (the process looking at the lab ended)"
    if not isinstance(answer, dict) or ("error" in answer) == ("result" in answer):
        return None, "a malformed answer"
    if "error" in answer:
        return None, str(answer["error"])
    return answer["result"], ""


def _spawn(student: Student, work: Work) -> tuple[int, int]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (a child: never returns)
        os.close(r)
        _child(student, work, w)
    os.close(w)
    return pid, r


def _say(w: int, answer: dict[str, Any]) -> None:
    data = json.dumps(answer).encode()
    view = memoryview(data)
    while view:
        view = view[os.write(w, view):]


def _child(student: Student, work: Work, w: int) -> None:  # pragma: no cover
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.closerange(3, w)  # the other students' pipes, anything root had open
        os.closerange(w + 1, os.sysconf("SC_OPEN_MAX"))
        # Not dumpable: the student's processes (same uid, once inside) cannot ptrace
        # or read the memory of a process that root started.
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        fds = _open_namespaces(student)
        os.setgroups([])  # root's groups would stay, unmapped, inside
        from netlab.backends.userns.join import _setns

        _setns(fds)
        os.setresgid(0, 0, 0)  # uid and gid 0 in there: the student outside
        os.setresuid(0, 0, 0)
        inner = os.fork()  # into the PID namespace (setns moves only children)
        if inner == 0:
            _inner(student, work, w)
        from netlab.linux.children import wait_passing_signals

        code = wait_passing_signals(inner, (signal.SIGINT,), (signal.SIGTERM,))
    except BaseException as e:  # noqa: BLE001  (a child: report anything, never return)
        with contextlib.suppress(Exception):
            _say(w, {"error": f"cannot enter the lab's namespaces: "
                              f"{getattr(e, 'strerror', None) or e}"})
    finally:
        os._exit(code)


def _inner(student: Student, work: Work, w: int) -> None:  # pragma: no cover
    code = 1
    try:
        # Ends with the child above it (killed when it gives no answer in time).
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        from netlab import backends
        from netlab.backends.userns import state
        from netlab.state import layout

        run = str(state.run_dir(student.state))
        os.environ[layout.RUN_DIR_ENV] = run
        layout.trust_run_dir(run)  # as the student's own command does (join.py)
        backends.DEFAULT = "userns"
        _say(w, {"result": work()})
        code = 0
    except BaseException as e:  # noqa: BLE001
        with contextlib.suppress(Exception):
            why = str(e) if isinstance(e, NetlabError) else f"{type(e).__name__}: {e}"
            _say(w, {"error": why})
    finally:
        os._exit(code)


def _open_namespaces(student: Student) -> list[tuple[int, int]]:
    """The holder's namespaces, opened while it is checked to be the holder found: the
    same pid and start time before and after (open, they stay what they are)."""
    from netlab.backends.userns import state
    from netlab.backends.userns.join import _NAMESPACES

    pidfd = os.pidfd_open(student.holder)
    fds: list[tuple[int, int]] = []
    try:
        for name, kind in _NAMESPACES:
            fds.append((kind, os.open(f"/proc/{student.holder}/ns/{name}",
                                      os.O_RDONLY | os.O_CLOEXEC)))
        signal.pidfd_send_signal(pidfd, 0)
        if state.start_time(student.holder) != student.started:
            raise NetlabError("the holder of the student's labs has ended")
    except BaseException:
        for _, fd in fds:
            os.close(fd)
        raise
    finally:
        os.close(pidfd)
    return fds


# --- status and grades ------------------------------------------------------------------

@dataclass
class LabRow:
    user: str
    lab: str  # "" when the user has no lab
    state: str  # "up", "drift", "missing", "error", "no lab"
    detail: str = ""


def status(lab: str | None = None, workers: int = WORKERS, group: str | None = None
           ) -> list[LabRow]:
    """Every student's labs (or only the lab named `lab`) and their state."""
    from netlab.names import check_lab_name

    if lab is not None:
        check_lab_name(lab, "lab")
    _preload()
    students = find(group)
    answers = run_each(students, lambda s: lambda: _status_inside(lab), workers)
    rows: list[LabRow] = []
    for s, (got, why) in zip(students, answers, strict=True):
        if got is None:
            rows.append(LabRow(s.user, lab or "", "error", why))
            continue
        labs = [x for x in got if isinstance(x, list) and len(x) == 3]
        if not labs:
            rows.append(LabRow(s.user, lab or "", "missing" if lab else "no lab",
                               "not deployed" if lab else ""))
        rows += [LabRow(s.user, str(n), str(st), str(d)) for n, st, d in labs]
    return rows


def _status_inside(only: str | None) -> list[list[str]]:
    from netlab import api
    from netlab.errors import plural
    from netlab.lab import Lab

    out = []
    for name in api.labs():
        if only is not None and name != only:
            continue
        try:
            st = Lab.attach(name).status()
        except NetlabError as e:
            out.append([name, "error", str(e)])
            continue
        if st.drift:
            out.append([name, "drift", f"{plural(len(st.drift), 'difference')}:"
                                       f" {st.drift[0]}"])
        else:
            out.append([name, "up", ""])
    return out


def teacher_plan(lab: str, expect_file: str | Path | None = None) -> tuple[str, Any, float]:
    """LAB compiled as students deploy it (its own name, not renamed), with its
    expectations or those of `expect_file`: (lab name, plan, full marks)."""
    from netlab.classroom import deploy
    from netlab.classroom.grade import with_expect
    from netlab.compile.compiler import compile_topology
    from netlab.errors import TopologyError, UsageError

    topo, _text = deploy.load_source(lab)
    model = topo.model
    if expect_file is not None:
        model = with_expect(model, expect_file)
    try:
        plan = compile_topology(model, topo.path).plan
    except TopologyError as e:
        if expect_file is None:
            raise
        raise TopologyError(str(expect_file), e.problems) from None
    if not plan.expect:
        raise UsageError(f"{lab} has no [[expect]] tables: nothing to grade with (give"
                         " the expectations with --expect FILE)")
    return topo.name, plan, sum(e.points for e in plan.expect)


def grade_of(user: str, lab: str, got: Any, why: str, full: float) -> Any:
    """A Grade from one student's answer (_check_inside's, as JSON), or its failure."""
    from netlab.classroom.grade import Grade
    from netlab.probes.results import CheckReport, CheckResult

    if got is None:
        return Grade(user, lab, None, why, full)
    if got == "missing":
        return Grade(user, lab, None, "the lab is not deployed", full)
    try:
        report = CheckReport(str(got["lab"]), [CheckResult(**{
            k: r[k] for k in CheckResult.__dataclass_fields__ if k in r})
            for r in got["results"]], float(got["elapsed_s"]))
    except (TypeError, KeyError, ValueError):
        return Grade(user, lab, None, "a malformed answer", full)
    return Grade(user, lab, report, max_points=full)


def grade(lab: str, expect_file: str | Path | None = None, workers: int = WORKERS,
          group: str | None = None) -> tuple[str, list[Any]]:
    """Every student's lab named as LAB's [lab] name, checked with LAB's expectations
    (or those of `expect_file`): the lab's name and one Grade per student, by user name."""
    name, plan, full = teacher_plan(lab, expect_file)
    _preload()
    students = find(group)
    answers = run_each(students, lambda _s: lambda: _check_inside(plan), workers)
    return name, [grade_of(s.user, name, got, why, full)
                  for s, (got, why) in zip(students, answers, strict=True)]


def _check_inside(plan: Any) -> Any:
    from netlab import api
    from netlab.lab import Lab

    if plan.lab not in api.labs():
        return "missing"
    # The teacher's plan, not the one in the student's state: same names, same
    # namespaces (the lab's own name and prefix), expectations the student cannot edit.
    report = Lab(plan).check(plan.expect, workers=8)
    return {"lab": report.lab, "elapsed_s": report.elapsed_s,
            "results": [r.to_dict() for r in report.results]}


def _preload() -> None:
    """Import what status and check need before forking, once: in each child the first
    status took 0.5 s of imports (pyroute2 above all), 7 ms with them done here. Also,
    inside, the student's uid may not read the interpreter's files (a Python under
    /root)."""
    import pyroute2  # noqa: F401

    import netlab.api  # noqa: F401
    from netlab import backends

    backends.preload("userns")
    import netlab.compile.firewall  # noqa: F401
    import netlab.compile.kinds  # noqa: F401
    import netlab.lab  # noqa: F401
    import netlab.linux.netlink  # noqa: F401
    import netlab.linux.nft  # noqa: F401
    import netlab.linux.ownership  # noqa: F401
    import netlab.linux.sysctl  # noqa: F401
    import netlab.plan.saved  # noqa: F401
    import netlab.plan.wires  # noqa: F401
    import netlab.probes  # noqa: F401
    import netlab.state.linkstate  # noqa: F401
    import netlab.state.plans  # noqa: F401
