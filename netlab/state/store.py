"""Where deployed labs are recorded: /run/netlab/<lab>/.

Later verbs (status, exec, probes, destroy) read the saved plan from here, never the
topology file, so they work when the file has changed or is gone.

Everything here is untrusted input to a program running as root: the run directory is
used only when nobody but root (or the user running netlab) can change it, lab names are
checked before they become paths (`lab_dir` refuses a bad one, so every caller is
covered), nothing here is followed through a symlink, and every journal entry is checked
against `JOURNAL_SCHEMA` when read.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netlab.errors import NetlabError, UsageError, who
from netlab.linux.netns import NETNS_RUN_DIR
from netlab.names import (
    check_lab_name,
    ifname_problem,
    lab_name_problem,
    netns_name_problem,
    node_name_problem,
    sysctl_key_problem,
)

if TYPE_CHECKING:  # imported when needed: `netlab destroy` and `list` need no pydantic
    from netlab.plan.model import Plan

DEFAULT_RUN_DIR = "/run/netlab"
RUN_DIR_ENV = "NETLAB_RUN_DIR"
PLAN_FILE = "plan.json"
RECORD_FILE = "created.jsonl"
LOG_DIR = "logs"
UTS_DIR = "uts"
ETC_DIR = "etc"  # the lab's DNS files (backends/kernel/files.py: store_dir)


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


def _run_dir_path() -> Path:
    return _normalized(os.environ.get(RUN_DIR_ENV) or DEFAULT_RUN_DIR)


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


# --- reading (every verb's side) ------------------------------------------------------


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


def _read_state_file(path: Path) -> str | None:
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


def read_plan(name: str) -> Plan:
    from netlab.plan.model import Plan

    path = lab_dir(name) / PLAN_FILE
    text = _read_state_file(path)
    if text is None:
        raise LabNotFound(_not_deployed(name))
    try:
        plan = Plan.from_json(text)
    except NetlabError as e:  # a format this netlab cannot read (plan.PlanFormatError)
        raise StateError(f"{path}: {e}") from None
    except ValueError as e:  # pydantic's ValidationError too
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise StateError(f"the saved plan {path} is damaged ({why});"
                         f" `netlab destroy {name}` removes the lab") from None
    if why := _plan_problem(name, plan):
        raise StateError(f"the saved plan {path} is damaged: {why};"
                         f" `netlab destroy {name}` removes the lab")
    return plan


def _plan_problem(name: str, plan: Plan) -> str | None:
    """The names in a saved plan that become paths (namespaces, UTS pins, logs) are
    checked again: the plan is read back from state, like the journal."""
    if plan.lab != name:
        return f"it names lab {plan.lab!r}, not {name!r}"
    if plan.prefix and (why := lab_name_problem(plan.prefix)):
        return why.replace("lab name", "prefix")
    for x in [*plan.nodes, *plan.switches]:
        if why := node_name_problem(x.name) or netns_name_problem(x.netns):
            return why
    if plan.uplink is not None and (why := netns_name_problem(plan.uplink.netns)):
        return why
    return None


def resolve_lab(name: str | None) -> str:
    """The lab a verb acts on: the one given (checked first), or the only one deployed."""
    if name is not None:
        check_lab_name(name)
    labs = list_labs()
    if name is not None:
        if name not in labs:
            raise LabNotFound(_not_deployed(name))
        return name
    if len(labs) == 1:
        return labs[0]
    if not labs:
        raise UsageError("no lab is deployed (deploy one with `netlab deploy FILE`)")
    raise UsageError("several labs are deployed; pick one with --lab: " + ", ".join(labs))


def _not_deployed(name: str) -> str:
    labs = list_labs()
    listing = ", ".join(labs) if labs else "none"
    return f"lab {name!r} is not deployed (deployed labs: {listing})"


# --- writing (the backend's side) -----------------------------------------------------


def write_plan(name: str, plan: Plan) -> Path:
    """Create the lab's state directory (0700) and save its plan (0600), before anything
    is built. Format 2 plans grow linearly with the lab: one string is fine."""
    ensure_run_dir()
    d = lab_dir(name)
    d.mkdir(mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)  # deploy mounts a tmpfs here first, whose own mode is 0755
    (d / LOG_DIR).mkdir(mode=0o700, exist_ok=True)
    (d / UTS_DIR).mkdir(mode=0o700, exist_ok=True)
    tmp = d / (PLAN_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                 0o600)
    with open(fd, "w", encoding="utf-8") as f:
        f.write(plan.to_json())
    tmp.replace(d / PLAN_FILE)
    return d


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


# --- the journal ------------------------------------------------------------------------

# A field check: (value, the lab's state directory) -> what is wrong, or None.
Check = Callable[[Any, Path], "str | None"]


def _show(v: Any) -> str:
    text = repr(v)  # a damaged line may hold megabytes: say enough to find it
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Field:
    check: Check
    optional: bool = False


def _int(least: int) -> Check:
    def check(v: Any, d: Path) -> str | None:
        ok = type(v) is int and v >= least  # not bool, not "12"
        return None if ok else f"is {_show(v)}, not a whole number >= {least}"
    return check


def _text(v: Any, d: Path) -> str | None:
    return None if isinstance(v, str) else f"is {_show(v)}, not a string"


def _name(problem: Callable[[Any], str | None]) -> Check:
    return lambda v, d: problem(v)


def _netns_file(v: Any, d: Path) -> str | None:
    """Exactly /run/netns/<namespace name>."""
    head, _, ns = v.rpartition("/") if isinstance(v, str) else ("", "", "")
    if head != NETNS_RUN_DIR or netns_name_problem(ns):
        return f"{_show(v)} is not {NETNS_RUN_DIR}/<namespace name>"
    return None


_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _inside(sub: str, name_problem: Callable[[str], str | None] | None = None) -> Check:
    """A file directly in the lab's own directory `sub` (uts, logs, etc)."""
    def check(v: Any, d: Path) -> str | None:
        head, _, base = v.rpartition("/") if isinstance(v, str) else ("", "", "")
        ok = head == str(d / sub) and _COMPONENT.fullmatch(base) is not None and \
            (name_problem is None or name_problem(base) is None)
        return None if ok else f"{_show(v)} is not a file in {d / sub}"
    return check


def _log_name(base: str) -> str | None:
    node, dot, ext = base.rpartition(".")
    return None if dot and ext == "log" and not node_name_problem(node) else "bad log name"


def _one_of(*allowed: str) -> Check:
    return lambda v, d: None if v in allowed else f"is {_show(v)}, not one of {', '.join(allowed)}"


def _host_table(v: Any, d: Path) -> str | None:
    ok = isinstance(v, str) and re.fullmatch(rf"netlab-{re.escape(d.name)}(-[a-z0-9-]+)?", v)
    return None if ok else f"{_show(v)} is not an nft table of lab {d.name}"


def _sysctl_value(v: Any, d: Path) -> str | None:
    ok = isinstance(v, str) and re.fullmatch(r"[ -~\t]{0,256}", v)
    return None if ok else f"is {_show(v)}, not a sysctl value"


_NETNS_ID = {"dev": Field(_int(0)), "ino": Field(_int(0))}


def _token(v: Any, d: Path) -> str | None:
    """A deploy's token (linux/namespaces.py: the marker of its namespaces)."""
    ok = isinstance(v, str) and re.fullmatch(r"[0-9a-f]{8,64}", v)
    return None if ok else f"is {_show(v)}, not a deploy token"


# What each kind of entry holds, and how each field is checked when the journal is read
# back. Only these fields of a known kind reach destroy and status; a new field must be
# added here. Entries of kinds not listed are kept but act on nothing.
JOURNAL_SCHEMA: dict[str, dict[str, Field]] = {
    "placeholder": {"path": Field(_netns_file), "token": Field(_token, optional=True)},
    "foreign": {"path": Field(_netns_file)},
    "netns": {"path": Field(_netns_file), **_NETNS_ID,  # cookie: the identity
              "cookie": Field(_int(1), optional=True), "token": Field(_token, optional=True)},
    "uts": {"path": Field(_inside(UTS_DIR, node_name_problem)), **_NETNS_ID},
    "etc": {"netns": Field(_name(netns_name_problem)),
            "link": Field(_inside(ETC_DIR), optional=True)},
    "hostlink": {"ifname": Field(_name(ifname_problem)),
                 "ifindex": Field(_int(1), optional=True)},  # null: not yet known
    "hostnft": {"family": Field(_one_of("ip", "ip6", "inet")), "table": Field(_host_table)},
    "hostsysctl": {"key": Field(_name(sysctl_key_problem)), "old": Field(_sysctl_value)},
    "proc": {"node": Field(_name(node_name_problem)), "index": Field(_int(0)),
             "command": Field(_text), "pid": Field(_int(1)),
             "start": Field(_int(0), optional=True),  # null: it ended at once
             "log": Field(_inside(LOG_DIR, _log_name))},
}


def _check_entry(entry: Any, d: Path) -> tuple[dict[str, Any] | None, str]:
    """(the entry with only its checked fields, "") or (None, what is wrong)."""
    if not isinstance(entry, dict):
        return None, f"not a JSON object but {type(entry).__name__}"
    kind = entry.get("kind")
    if not isinstance(kind, str):
        return None, "no \"kind\""
    schema = JOURNAL_SCHEMA.get(kind)
    if schema is None:
        return entry, ""  # kept, inert: nothing acts on kinds it does not know
    out: dict[str, Any] = {"kind": kind}
    for key, f in schema.items():
        if key not in entry or (f.optional and entry[key] is None):
            if not f.optional:
                return None, f"{kind} entry without {key!r}"
            out[key] = None
            continue
        if why := f.check(entry[key], d):
            return None, f"{kind} entry: {key} {why}"
        out[key] = entry[key]
    return out, ""


@dataclass(frozen=True)
class Damaged:
    """A journal line that was skipped: its number and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"{RECORD_FILE} line {self.line}: {self.reason}; entry skipped"


class Record:
    """Journal of what deploy actually created: one JSON object per line, appended as
    each object comes into existence, so that an interrupted deploy can still be undone.

    Entries have a "kind": placeholder (a /run/netns file netlab made), foreign (a
    placeholder name taken by someone else: never removed), netns / uts (path, dev, ino),
    etc (a /etc/netns entry), hostlink (root-ns interface), hostnft (root-ns nft table),
    hostsysctl (key, old), proc (node, pid, start); JOURNAL_SCHEMA has every field.
    Read back, entries that fail their checks are in `damaged`, not in `entries`.
    """

    def __init__(self, name: str):
        self.path = lab_dir(name) / RECORD_FILE
        self.entries: list[dict[str, Any]] = []
        self.damaged: list[Damaged] = []
        self._fd: int | None = None

    def open(self) -> Record:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
                           | os.O_NOFOLLOW, 0o600)
        return self

    def add(self, **entry: Any) -> None:
        self.add_many([entry])

    def add_many(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        self.entries.extend(entries)
        if self._fd is not None:
            os.write(self._fd, "".join(json.dumps(e) + "\n" for e in entries).encode())

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e.get("kind") == kind]


def read_record(name: str) -> Record:
    """The journal of a lab (empty if it has none). Every line is checked against
    JOURNAL_SCHEMA; a damaged one (a torn last line too) goes to `damaged`, never raises."""
    rec = Record(name)
    text = _read_state_file(rec.path)
    if text is None:
        return rec
    d = rec.path.parent
    for no, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except (ValueError, RecursionError) as e:  # RecursionError: [[[[... nesting
            rec.damaged.append(Damaged(no, f"not JSON ({type(e).__name__})"))
            continue
        entry, why = _check_entry(raw, d)
        if entry is None:
            rec.damaged.append(Damaged(no, why))
        else:
            rec.entries.append(entry)
    return rec


@contextlib.contextmanager
def lab_lock(name: str) -> Iterator[None]:
    """Exclusive per-lab lock held by deploy and destroy (a lock file beside the lab dir).

    A signal may land anywhere (in `netlab`, SIGTERM and SIGHUP raise KeyboardInterrupt
    like Ctrl-C): the try starts before the file is created, its descriptor is recorded
    the moment it exists, and the release is retried once if a signal cuts it short, so
    that no lock file outlives its lab whenever the signal comes."""
    path = ensure_run_dir() / f".{check_lab_name(name)}.lock"
    fds: list[int] = []  # the lock file's descriptor, once open
    try:
        _take_lock(path, name, fds)
        yield
    finally:
        try:
            _drop_lock(path, name, fds)
        except KeyboardInterrupt:
            _drop_lock(path, name, fds)  # a signal before or during the first go
            raise


def _take_lock(path: Path, name: str, fds: list[int]) -> None:
    while True:
        fds.append(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600))
        try:
            fcntl.flock(fds[-1], fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NetlabError(f"lab {name!r} is being deployed or destroyed by another netlab"
                              " process; try again when it has finished") from None
        if _same_file(fds[-1], path):
            return
        os.close(fds.pop())  # the holder before us removed this file: lock the new one


def _drop_lock(path: Path, name: str, fds: list[int]) -> None:
    """Unlock; with no lab left, remove the lock file first. Idempotent, so that it can be
    retried. The file is removed only under the lock (a locker that opened it before the
    removal sees that it is gone, in _take_lock, and locks the new one); when a signal
    came between creating the file and recording it, the file is opened again here."""
    if not fds:
        try:
            fds.append(os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW))
        except OSError:
            return  # no lock file
    fd = fds[-1]
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours already, or free: ours now
        if not os.path.lexists(path.parent / name) and _same_file(fd, path):
            os.unlink(path)
    except OSError:
        pass  # another process holds it (it removes the file), or it is gone already
    finally:
        fds.pop()
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
