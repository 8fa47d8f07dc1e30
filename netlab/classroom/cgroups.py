"""Per-copy CPU and memory limits through cgroups: which version applies on this machine,
and a group per copy for the processes its lab runs.

Three layouts are told apart (detect):
- cgroup v2 with the memory and cpu controllers usable here (a pure v2 machine as root,
  or a delegated subtree named by NETLAB_CGROUP, e.g. a systemd unit's with
  Delegate=yes): groups <base>/netlab/<lab> with memory.max and cpu.max;
- a v1/v2 hybrid (this machine: v2 mounted at /sys/fs/cgroup/unified without the memory
  and cpu controllers, which stay bound to v1): v1 groups under this process's own
  memory and cpu groups (…/netlab/<lab>, so that the copies stay inside whatever limits
  netlab itself runs under) with memory.limit_in_bytes and cpu.cfs_quota_us;
- neither writable (not root, no delegation): limits are refused, saying why.
A limit covers the processes the lab runs (node `exec`, `startup`, daemons), moved into
the group once the copy is up; their children stay in it. Commands students start later
with `netlab exec` are not limited (the node's machine would have to start them there:
backends/kernel/machine.py, a later change).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from netlab.errors import NetlabError, UsageError
from netlab.linux.mounts import unescape

CGROUP_ROOT = Path("/sys/fs/cgroup")
BASE_ENV = "NETLAB_CGROUP"  # a delegated v2 group netlab may create its groups in
PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    memory: int | None = None  # bytes
    cpus: float | None = None  # CPUs' worth of time (0.5: half of one CPU)

    def __bool__(self) -> bool:
        return self.memory is not None or self.cpus is not None

    def describe(self) -> str:
        parts = []
        if self.memory is not None:
            parts.append(f"memory {self.memory // (1 << 20)} MiB")
        if self.cpus is not None:
            parts.append(f"cpu {self.cpus:g}")
        return ", ".join(parts) or "none"


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgKMG]i?[bB]?|[bB])?")
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_memory(text: str) -> int:
    """"256M", "1G", "512MiB", "1048576" -> bytes; at least 4 MiB."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise UsageError(f"--memory {text!r}: give a size such as 256M or 1G")
    value = int(float(m.group(1)) * _UNITS[(m.group(2) or "")[:1].lower()])
    if value < 4 << 20:
        raise UsageError(f"--memory {text!r}: at least 4M (a lab's processes need more)")
    return value


def parse_cpus(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.01 <= value <= (os.cpu_count() or 1):
        raise UsageError(f"--cpus {text!r}: give a number of CPUs between 0.01 and"
                         f" {os.cpu_count() or 1} (this machine's), e.g. 0.5")
    return value


@dataclass
class Support:
    mode: str  # "v2", "v1" or "none"
    bases: dict[str, Path] = field(default_factory=dict)  # controller -> netlab's group
    why: str = ""  # what was found (shown by `class up` and in the refusal)


def _mounts(mounts: Path) -> list[tuple[str, str, set[str]]]:
    out = []
    with contextlib.suppress(OSError):
        for line in mounts.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
                out.append((unescape(parts[1]), parts[2], set(parts[3].split(","))))
    return out


def _own(self_cgroup: Path) -> dict[str, str]:
    """This process's group per v1 controller, and "" -> its v2 group."""
    own: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in self_cgroup.read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                own[c] = path
    return own


def _writable(d: Path) -> bool:
    return d.is_dir() and os.access(d, os.W_OK | os.X_OK)


def detect(mounts: Path = Path("/proc/self/mounts"),
           self_cgroup: Path = Path("/proc/self/cgroup")) -> Support:
    """What applies here (the paths are parameters for tests)."""
    found = _mounts(mounts)
    own = _own(self_cgroup)
    v2 = [m for m, t, _ in found if t == "cgroup2"]
    for mount in v2:
        base = Path(os.environ[BASE_ENV]) if os.environ.get(BASE_ENV) else \
            Path(mount) / own.get("", "/").lstrip("/")
        ctrls = set((base / "cgroup.controllers").read_text().split()) \
            if (base / "cgroup.controllers").exists() else set()
        # v2's rule: a group with processes cannot hand controllers to children, so
        # netlab's groups live in their own subtree (the root, or a delegated one).
        if {"memory", "cpu"} <= ctrls and _writable(base) and (
                base == Path(mount) or os.environ.get(BASE_ENV)):
            return Support("v2", {"memory": base / "netlab", "cpu": base / "netlab"},
                               f"cgroup v2 at {base}")
    v1 = {}
    for mount, kind, opts in found:
        for c in ("memory", "cpu"):
            if kind == "cgroup" and c in opts and c not in v1:
                group = Path(mount) / own.get(c, own.get("cpu,cpuacct", "/")).lstrip("/")
                if _writable(group):
                    v1[c] = group / "netlab"
    if len(v1) == 2:
        what = "a v1/v2 hybrid" if v2 else "cgroup v1"
        return Support("v1", v1, f"{what}: v1 memory and cpu controllers ("
                       + ", ".join(f"{c} under {p.parent}" for c, p in sorted(v1.items()))
                       + ")" + (f"; v2 at {', '.join(v2)} has no memory/cpu controller"
                                if v2 else ""))
    why = ("cgroup v2 without the memory and cpu controllers delegated here"
           f" ({', '.join(v2)})" if v2 else "no cgroup v2")
    why += "; cgroup v1 memory/cpu groups " + ("not writable" if found else "not mounted")
    return Support("none", {}, why)


def require(limits: Limits, support: Support | None = None) -> Support:
    """The Support that applies, or UsageError (exit 2, before anything is built)."""
    s = support or detect()
    if limits and s.mode == "none":
        raise UsageError(f"--memory/--cpus cannot be applied on this machine: {s.why}."
                         f" Run as root, or give netlab a delegated cgroup v2 subtree"
                         f" ({BASE_ENV}=/sys/fs/cgroup/...); or drop the limits")
    return s


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as e:
        raise NetlabError(f"cannot set {path} to {value}: {e.strerror or e}") from None


def create(lab: str, limits: Limits, support: Support) -> list[Path]:
    """The copy's groups, made and limited (the caller removes them on failure)."""
    made = []
    for c, base in support.bases.items():
        if c == "memory" and limits.memory is None or c == "cpu" and limits.cpus is None:
            continue
        base.mkdir(exist_ok=True)
        if support.mode == "v2":
            with contextlib.suppress(OSError):  # may be on already
                _write(base.parent / "cgroup.subtree_control", "+memory +cpu")
            _write(base / "cgroup.subtree_control", "+memory +cpu")
        g = base / lab
        if g not in made:
            g.mkdir(exist_ok=True)
            made.append(g)
        if c == "memory" and limits.memory is not None:
            _write(g / ("memory.max" if support.mode == "v2" else "memory.limit_in_bytes"),
                   str(limits.memory))
        if c == "cpu" and limits.cpus is not None:
            quota = max(1000, int(limits.cpus * PERIOD_US))
            if support.mode == "v2":
                _write(g / "cpu.max", f"{quota} {PERIOD_US}")
            else:
                _write(g / "cpu.cfs_period_us", str(PERIOD_US))
                _write(g / "cpu.cfs_quota_us", str(quota))
    return made


def attach(made: list[Path], pids: list[int]) -> None:
    """Move `pids` (and so their future children) into every group of the copy."""
    for g in made:
        for pid in pids:
            try:
                (g / "cgroup.procs").write_text(str(pid))
            except ProcessLookupError:
                continue  # it ended meanwhile
            except OSError as e:
                raise NetlabError(f"cannot move process {pid} into {g}: {e.strerror}") from None


def remove(lab: str, paths: list[str]) -> None:
    """Remove the copy's groups (after its lab is destroyed), as recorded when they were
    made (this process may sit in another group than the one that made them); what still
    runs there goes back to the parent group first, since a group with processes cannot
    be removed. Only netlab's own groups: <cgroupfs>/.../netlab/<lab>."""
    for raw in paths:
        g = Path(raw)
        if not (g.name == lab and g.parent.name == "netlab" and g.is_absolute()
                and CGROUP_ROOT in g.parents and ".." not in g.parts and not g.is_symlink()):
            continue
        if not g.is_dir():
            continue
        with contextlib.suppress(OSError):
            for pid in (g / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    (g.parent.parent / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):
            g.rmdir()
        with contextlib.suppress(OSError):
            g.parent.rmdir()  # netlab/ itself, when no other copy has a group
