"""Rootless mode's front door: `netlab.cli.main` calls `enter_from_cli` before anything
else, while the process still has one thread (setns into a user namespace needs that).

For a verb that acts on labs (MACHINE_VERBS), run by a user who is not root (or by root
with `--rootless`): find the user's holder, or start one; join its user, mount, network,
PID and UTS namespaces (through descriptors opened while it was checked); fork. The
child returns and runs the verb as uid 0 of the user's namespace, with the kernel backend
unchanged and the run directory in the user's state directory. The parent waits, passes
signals on, exits with the child's status, and, when no lab of the user is left and no
other command of theirs is running, ends the holder (the user's last lab was destroyed).

Other verbs (validate, plan, graph, labs, ...) need no machine and run as they are, with
the rootless backend chosen so that validate still names what cannot work without root.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import sys
from pathlib import Path

from netlab.backends.userns import state
from netlab.backends.userns.state import RootlessError

FLAG = "--rootless"
BACKEND = "userns"
# Verbs that act on deployed labs or deploy them: these run inside the user's namespaces.
# Not `web`: it opens its listening socket first, in the host's network namespace where
# the browser is, then joins (enter_for, from netlab/cli/web.py).
MACHINE_VERBS = frozenset({
    "deploy", "destroy", "list", "status", "exec", "shell", "ping", "trace", "probe",
    "pingall", "check", "link", "capture",
})
NS_GET_OWNER_UID = 0xB704  # _IO(0xb7, 0x4)
# Everything the holder made, in the order to enter it (/proc/PID/ns name, CLONE_NEW*).
_NAMESPACES = (("user", 0x10000000), ("mnt", 0x00020000), ("net", 0x40000000),
               ("uts", 0x04000000), ("pid", 0x20000000))
_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def wanted(argv: list[str]) -> bool:
    """Rootless mode: not root, or root asking for it with --rootless."""
    return os.geteuid() != 0 or FLAG in argv


def verb_of(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def enter_from_cli(argv: list[str] | None = None) -> None:
    """Called first by the CLI (argv: sys.argv, whose --rootless is removed). Returns in
    the process that is to run the verb; may exit (the waiting parent, or an error)."""
    argv = sys.argv if argv is None else argv
    if not wanted(argv[1:]):
        return
    while FLAG in argv:
        argv.remove(FLAG)
    import netlab.backends as backends

    backends.DEFAULT = BACKEND
    if verb_of(argv[1:]) not in MACHINE_VERBS or "-h" in argv or "--help" in argv:
        return
    try:
        enter(verb_of(argv[1:]))
    except RootlessError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(e.exit_code)


def pending() -> bool:
    """Rootless mode was chosen (enter_from_cli) and this process is not inside yet: a
    verb outside MACHINE_VERBS that still needs the labs (`web`) joins with enter_for."""
    import netlab.backends as backends
    from netlab.linux.userns import in_child_userns

    return backends.DEFAULT == BACKEND and not in_child_userns()


def enter_for(verb: str) -> None:
    """Join the user's namespaces from a verb that first did something outside (`web`
    opens its listening socket in the host's network namespace): as enter_from_cli does
    for MACHINE_VERBS. Must still be the process's only thread."""
    import threading

    if threading.active_count() != 1 or len(os.listdir("/proc/self/task")) != 1:
        raise RuntimeError(f"netlab {verb}: joined after a thread was started")
    try:
        enter(verb)
    except RootlessError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        sys.exit(e.exit_code)


def enter(verb: str | None = None) -> None:
    """Join (or start) the holder; fork; return in the child. Needs a single thread."""
    from netlab.state import layout

    home = state.state_dir()
    cwd = _cwd()
    if verb == "deploy":
        from netlab.backends.userns import uplink

        if uplink.helper() is not None:
            # Outside, for as long as the command runs: the lab's uplink is started from
            # the host's namespaces, which nothing joined can reach again (uplink.py).
            uplink.start_launcher()
    lock = state.open_lock(home)
    # Shared while the command runs: other commands of the user's run alongside (a
    # capture while a ping), and none of them ends the holder under it (that takes the
    # lock exclusively). Exclusive only to clean up after a dead holder and start one.
    fcntl.flock(lock, fcntl.LOCK_SH)
    joined = _joined(home)
    if joined is None:
        fcntl.flock(lock, fcntl.LOCK_UN)
        fcntl.flock(lock, fcntl.LOCK_EX)
        joined = _joined(home)  # another command may have started one meanwhile
        if joined is None:
            _clean_stale(home)
            _start(home)
            joined = _joined(home)
            if joined is None:
                raise RootlessError("the holder of your labs ended as soon as it started")
    fcntl.flock(lock, fcntl.LOCK_SH)
    run = str(state.run_dir(home))
    os.environ[layout.RUN_DIR_ENV] = run
    layout.trust_run_dir(run)  # checked as the user by state_dir(); see trust_run_dir
    with contextlib.suppress(OSError):
        os.chdir(cwd)  # setns into a mount namespace moves the process to its /
    child = os.fork()
    if child == 0:
        os.close(joined[0])
        return
    _close_launcher()  # the launcher ends when the child, its only user, does
    _wait_and_exit(child, lock, home, joined)


def _close_launcher() -> None:
    mod = sys.modules.get("netlab.backends.userns.uplink")
    if mod is not None and mod.launcher_fd is not None:
        os.close(mod.launcher_fd)
        mod.launcher_fd = None


def _joined(home: Path) -> tuple[int, tuple[int, int]] | None:
    """Join the recorded holder if it is alive and what it should be: its pidfd and
    record (pid, start time), else None (nothing joined)."""
    found = _live_holder(home)
    if found is None:
        return None
    pidfd, fds, rec = found
    _setns(fds)
    return pidfd, rec


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:
        return "/"


def _start(home: Path) -> tuple[int, int]:
    from netlab.backends.userns import holder

    return holder.start(home)


def _live_holder(home: Path
                 ) -> tuple[int, list[tuple[int, int]], tuple[int, int]] | None:
    """The recorded holder, if it is alive and is what it should be (the same process:
    pid and start time; the user's; in a user namespace the user made): its pidfd, and
    its namespaces open (kind, fd), in the order to enter them. Open, they stay what they
    are even if the holder ends now."""
    rec = state.read_record(home)
    if rec is None:
        return None
    pid, started = rec
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return None
    fds: list[tuple[int, int]] = []
    try:
        if state.start_time(pid) != started or os.stat(f"/proc/{pid}").st_uid != os.geteuid():
            raise LookupError
        for name, kind in _NAMESPACES:
            fds.append((kind, os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)))
        user = fds[0][1]
        owner = struct.unpack("I", fcntl.ioctl(user, NS_GET_OWNER_UID, b"\0" * 4))[0]
        if owner != os.geteuid() or os.fstat(user).st_ino == os.stat("/proc/self/ns/user").st_ino:
            raise LookupError
        signal.pidfd_send_signal(pidfd, 0)  # still that process, after the checks
        if state.start_time(pid) is None:
            raise LookupError  # a zombie: its namespaces are on their way out
    except (OSError, LookupError):
        for _, fd in fds:
            os.close(fd)
        os.close(pidfd)
        return None
    return pidfd, fds, rec


def _clean_stale(home: Path) -> None:
    """The holder is gone (killed, or the machine restarted): its labs went with it. Say
    so once, and remove what is left on the host: the record, the empty lab directories
    (they were tmpfs mount points in the holder's mount namespace)."""
    from netlab.state import layout

    had = state.read_record(home) is not None
    run = state.run_dir(home)
    try:
        names = sorted(e.name for e in os.scandir(run)
                       if e.is_dir(follow_symlinks=False) and layout.lab_name_problem(e.name)
                       is None)
    except OSError:
        names = []
    old = os.environ.get(layout.RUN_DIR_ENV)
    os.environ[layout.RUN_DIR_ENV] = str(run)
    try:
        for n in names:
            layout.remove_lab_dir(n)
    finally:
        if old is None:
            del os.environ[layout.RUN_DIR_ENV]
        else:
            os.environ[layout.RUN_DIR_ENV] = old
    state.remove_record(home)
    if had and names:
        print(f"netlab: the process that held your labs has ended, and your labs"
              f" ({', '.join(names)}) ended with it; their state is cleaned up",
              file=sys.stderr, flush=True)


def _setns(fds: list[tuple[int, int]]) -> None:
    """Enter the namespaces (the user namespace first: it gives the rights for the
    others), closing the descriptors. One setns per kind: ~0.1 ms in all, where a single
    setns(pidfd, all kinds) took ~60 ms on this VM."""
    from netlab.linux.netns import setns

    try:
        for kind, fd in fds:
            setns(fd, kind)
    except OSError as e:
        raise RootlessError(f"cannot enter the namespaces of your labs: {e.strerror}"
                            " (netlab must join them before it starts any thread)") from None
    finally:
        for _, fd in fds:
            os.close(fd)


def _wait_and_exit(child: int, lock: int, home: Path, joined: tuple[int, tuple[int, int]]
                   ) -> None:
    """The parent: wait for the child, pass signals on, exit as it did; end the holder if
    the user has no lab left and no other netlab command of theirs is running."""
    from netlab.linux.children import wait_passing_signals

    # The terminal sends Ctrl-C to both; the rest is passed on.
    code = wait_passing_signals(child, (signal.SIGINT,), _FORWARDED)
    with contextlib.suppress(Exception):
        _stop_if_idle(lock, home, *joined)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _stop_if_idle(lock: int, home: Path, pidfd: int, rec: tuple[int, int]) -> None:
    """End the holder this command joined if no lab is left and no other command of the
    user's runs; its record goes only if it still names that holder (a new one may have
    been started since this one died)."""
    from netlab.state import layout

    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another command of the user's is running: it decides when it ends
    try:
        signal.pidfd_send_signal(pidfd, 0)
    except ProcessLookupError:
        return  # it ended by itself: the next command cleans up
    if layout.deployed_labs():
        return
    if state.read_record(home) == rec:
        state.remove_record(home)
    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
