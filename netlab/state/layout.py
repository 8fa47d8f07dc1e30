"""The run directory and the labs' state directories in it: where, and whether to trust.

/run/netlab/<lab>/ (or $NETLAB_RUN_DIR/<lab>/) holds what a deployed lab leaves: the plan
(plans.py), the journal (journal.py), logs, UTS pins, DNS files, runtime link changes
(linkstate.py). Everything here is untrusted input to a program running as root: the run
directory is used only when nobody but root (or the user running netlab) can change it,
lab names are checked before they become paths (`lab_dir` refuses a bad one, so every
caller is covered), and nothing here is followed through a symlink or removed across a
mount point.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import stat
from pathlib import Path

from netlab.errors import NetlabError, who
from netlab.names import check_lab_name, lab_name_problem

DEFAULT_RUN_DIR = "/run/netlab"
RUN_DIR_ENV = "NETLAB_RUN_DIR"
PLAN_FILE = "plan.json"
RECORD_FILE = "created.jsonl"
LOG_DIR = "logs"
UTS_DIR = "uts"
ETC_DIR = "etc"  # the lab's DNS files (backends/kernel/files.py: store_dir)
MNT_DIR = "mnt"  # pins of the nodes' mount namespaces (backends/kernel/machine.py)
MACHINES_DIR = "machines"  # the nodes' private directories, a tmpfs (machine.py)


class LabNotFound(NetlabError):
    exit_code = 2


class StateError(NetlabError):
    """State netlab will not use: an unsafe run directory, a damaged plan."""

    exit_code = 2


# --- the run directory ------------------------------------------------------------------


def run_dir() -> Path:
    """The run directory ($NETLAB_RUN_DIR, read at each call, else /run/netlab), checked:
    StateError unless only root (or the user running netlab) can change it."""
    path = _run_dir_path()
    _check_dirs(str(path), create=False)
    return path


# Run directories found safe by this process (with the euid of that time). Once every
# directory on the way is root's and closed to others, only root can change that, so the
# walk (~35 us) is not repeated for each of a big lab's nodes.
_safe_run_dirs: set[tuple[str, int]] = set()


def ensure_run_dir() -> Path:
    """run_dir(), created (0755: `netlab list` works without root) if it is missing."""
    path = _run_dir_path()
    _check_dirs(str(path), create=True)
    return path


def check_dir(path: str, create: bool = False) -> bool:
    """The run directory's test for another directory of netlab's (the rootless state
    directory, backends/userns/state.py): StateError unless only root or the user running
    netlab can change it and every directory above it; False if it is missing (and not
    made: `create` makes missing ones, 0755)."""
    return _walk(str(_normalized(path)), path, create, run_dir_last=True)


def trust_run_dir(path: str) -> None:
    """Take `path` as a checked run directory for this process's current euid. Rootless
    mode checks its run directory as the user, then enters a user namespace where the
    host's root (owner of / and /run) shows as nobody: checked again there, every path
    would fail. (backends/userns/join.py)"""
    _safe_run_dirs.add((str(_normalized(path)), os.geteuid()))


def _run_dir_path() -> Path:
    return _normalized(os.environ.get(RUN_DIR_ENV) or DEFAULT_RUN_DIR)


def run_tag() -> str:
    """The run directory's mark in the token of every deploy made from it (8 hex digits
    of its path): a destroy that finds a lab by the markers in its namespaces (its state
    lost) takes only namespaces deployed from the same run directory, never a lab of the
    same name deployed from another one (NETLAB_RUN_DIR) under another prefix."""
    return hashlib.sha256(os.fsencode(str(_run_dir_path()))).hexdigest()[:8]


@functools.lru_cache(maxsize=8)
def _normalized(raw: str) -> Path:
    if not os.path.isabs(raw):
        raise StateError(f"{RUN_DIR_ENV}={raw!r} is not an absolute path; give a directory"
                         " such as /run/netlab, or unset it")
    return Path(os.path.normpath(raw))


def _owners() -> set[int]:
    # root, or the user running netlab (for its rootless mode); as root: root only
    return {0, os.geteuid()}


def _dir_problem(path: str, st: os.stat_result, sticky_ok: bool) -> str | None:
    """Why a directory others could change is not to be trusted, or None."""
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    if st.st_uid not in _owners():
        mine = "" if os.geteuid() == 0 else " or you"
        return f"{path} is owned by {who(st.st_uid)}, not by root{mine}"
    # /tmp-like directories on the way are fine: the sticky bit keeps others from
    # renaming or removing what root put there.
    if st.st_mode & 0o022 and not (sticky_ok and st.st_mode & stat.S_ISVTX):
        return f"{path} can be written by others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _check_dirs(path: str, create: bool) -> None:
    """Every directory from / down to `path` must be changeable only by root (or the
    user running netlab): otherwise another user could swap one for a symlink to any
    place, or plant a journal that makes root delete what it names. `path` itself must
    be a real directory, not a link; links on the way are followed only when their own
    target passes the same test. Missing directories are made when `create`."""
    if (path, os.geteuid()) in _safe_run_dirs:
        return
    if _walk(path, path, create, run_dir_last=True):
        _safe_run_dirs.add((path, os.geteuid()))


def _walk(path: str, shown: str, create: bool, run_dir_last: bool, depth: int = 0) -> bool:
    """_check_dirs' walk down `path` (errors name `shown`, the run directory); False when
    a directory is missing (and not made)."""
    parts = [p for p in path.split("/") if p]
    chain = ["/"] + ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]
    for k, d in enumerate(chain):
        last = run_dir_last and k == len(chain) - 1
        try:
            try:
                st = os.lstat(d)
            except FileNotFoundError:
                if not create:
                    return False  # nothing there, so no state to read
                # If someone else's sticky directory (/tmp) lets them make it first, the
                # checks below see their directory or link and refuse it.
                with contextlib.suppress(FileExistsError):
                    os.mkdir(d, 0o755)
                st = os.lstat(d)
        except OSError as e:
            raise _unsafe(shown, f"cannot examine {d}: {e.strerror}") from None
        if stat.S_ISLNK(st.st_mode) and not last and depth < 8:
            # The link sits in a directory checked above and is not someone else's (who
            # could have put it in a sticky directory); where it leads must pass too.
            if st.st_uid not in _owners():
                raise _unsafe(shown, f"{d} is a symbolic link owned by {who(st.st_uid)}")
            real = os.path.realpath(d)
            if not _walk(real, shown, False, run_dir_last=False, depth=depth + 1):
                if not create:
                    return False
                raise _unsafe(shown, f"{d} is a symbolic link to the missing {real}")
            st = os.stat(d)
        if why := _dir_problem(d, st, sticky_ok=not last):
            raise _unsafe(shown, why)
    return True


def _unsafe(path: str, why: str) -> StateError:
    owner = "root" if os.geteuid() == 0 else "root or you"
    return StateError(
        f"unsafe run directory {path}: {why}. netlab keeps its state only where nobody but"
        f" {owner} can change it. Fix: unset {RUN_DIR_ENV} (to use {DEFAULT_RUN_DIR}), or"
        f" point it at a directory owned by {owner} and writable by no one else"
        " (chown root: DIR; chmod 0700 DIR)")


# --- lab directories -------------------------------------------------------------------


def lab_dir(name: str) -> Path:
    """The lab's state directory: the name checked (UsageError, exit 2), the run
    directory checked, and, when it exists, a real directory nobody else can change."""
    d = run_dir() / check_lab_name(name)
    try:
        st = os.lstat(d)
    except FileNotFoundError:
        return d
    if why := _dir_problem(str(d), st, sticky_ok=False):
        raise StateError(f"state directory of lab {name}: {why}; netlab neither follows nor"
                         " trusts it (remove it by hand if it is not netlab's)")
    return d


def _state_dirs() -> list[str]:
    """Names in the run directory that can be labs: valid names of real directories."""
    try:
        entries = list(os.scandir(run_dir()))
    except FileNotFoundError:
        return []
    return sorted(e.name for e in entries
                  if lab_name_problem(e.name) is None and e.is_dir(follow_symlinks=False))


def _has_file(d: Path, name: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(d / name).st_mode)
    except PermissionError:
        return True  # a 0700 lab directory seen without root: it may well have one
    except OSError:
        return False


def list_labs() -> list[str]:
    """Names of labs with a saved plan, sorted."""
    run = run_dir()
    return [n for n in _state_dirs() if _has_file(run / n, PLAN_FILE)]


def deployed_labs() -> list[str]:
    """Labs with state (a plan or a record): list_labs plus half-built ones."""
    run = run_dir()
    return [n for n in _state_dirs()
            if _has_file(run / n, PLAN_FILE) or _has_file(run / n, RECORD_FILE)]


def read_state_file(path: Path) -> str | None:
    """A state file's text (None if there is none): never through a symlink, never a
    FIFO or device someone put there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        why = "it is a symbolic link, which netlab never follows in its state" \
            if e.errno == errno.ELOOP else e.strerror
        raise StateError(f"cannot read {path}: {why}") from None
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StateError(f"{path} is not a regular file; netlab will not read it")
        return f.read().decode("utf-8", errors="replace")


def remove_lab_dir(name: str) -> None:
    """Remove the lab's state directory: only a real directory directly inside the run
    directory, never through a symlink, and never into a filesystem mounted inside it."""
    check_lab_name(name)
    try:
        run = os.open(run_dir(), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        try:
            st = os.lstat(name, dir_fd=run)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            return  # a link or file by that name is not netlab's: left alone
        _remove_tree(run, name, None)
    finally:
        os.close(run)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _remove_tree(parent: int, name: str, dev: int | None) -> None:
    """rm -r of `name` in the directory open as `parent`, by file descriptors: a symlink
    is unlinked, never followed (also when swapped in meanwhile: O_NOFOLLOW and a fstat
    comparison), and a directory of another filesystem (`dev`) is not emptied. shutil's
    rmtree is symlink-safe too, but opens what it checked without O_NOFOLLOW/O_NONBLOCK
    and crosses mount points. Errors are ignored: whatever cannot go stays."""
    try:
        st = os.lstat(name, dir_fd=parent)
    except OSError:
        return
    if not stat.S_ISDIR(st.st_mode):
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=parent)
        return
    if dev is None or st.st_dev == dev:
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError:
            return
        try:
            if not os.path.samestat(st, os.fstat(fd)):
                return  # replaced since the lstat
            with os.scandir(fd) as it:
                names = [e.name for e in it]
            for n in names:
                _remove_tree(fd, n, st.st_dev)
        finally:
            os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(name, dir_fd=parent)
