"""`class up`, `class down`, `class status`: one copy of a lab per student, built in
parallel, all or nothing.

Each copy is the lab's topology with [lab] name and prefix replaced by the copy's name,
compiled by the normal compiler, deployed by the backend as `netlab deploy` does: its
own namespaces, bridges (switches live in their own namespaces) and veths, nothing shared
with another copy. The class record is written first; if any copy fails, or Ctrl-C /
SIGTERM comes, every copy already made is destroyed and the record removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from netlab.classroom import cgroups, limits, record, roster
from netlab.errors import NetlabError, UsageError, plural

if TYPE_CHECKING:
    from netlab.api import Topology
    from netlab.plan.model import Plan
    from netlab.topology.model import TopologyFile

T = TypeVar("T")
R = TypeVar("R")
# Two copies at a time use both CPUs of a 2-core machine; more only queue on the RTNL
# lock (docs/classroom.md has the figures).
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))


@dataclass
class UpResult:
    rec: record.ClassRecord
    seconds: float
    namespaces: int
    support: cgroups.Support | None = None
    warnings: list[str] = field(default_factory=list)


def renamed(model: TopologyFile, name: str) -> TopologyFile:
    """The topology with [lab] name and prefix `name` (the namespaces' prefix too)."""
    lab = model.lab.model_copy(update={"name": name, "prefix": name})
    return model.model_copy(update={"lab": lab})


def compile_copy(model: TopologyFile, source: str, name: str) -> Plan:
    """The copy's plan, by the same compiler as `netlab deploy` (the machine's preflight
    ran once on the original in load_source)."""
    from netlab.compile.compiler import compile_topology

    return compile_topology(renamed(model, name), source).plan


def load_source(lab: str) -> tuple[Topology, str]:
    """The class's lab (bundled name or path), loaded and preflighted like `deploy`, and
    its text (kept in the record: copies and grading do not depend on the file later)."""
    from netlab import api
    from netlab.topology.library import resolve
    from netlab.topology.loader import read_text

    path = resolve(lab)
    topo = api.load(path)
    if topo.plan.uplink is not None:
        raise UsageError(f"lab {topo.name!r} has an [uplink]: every copy would join the"
                         " host's network (and the others' through it), so a class cannot"
                         " be made of it; remove [uplink] from a copy of the file")
    return topo, read_text(path)


def model_of(text: str, source: str) -> TopologyFile:
    from netlab.topology.loader import parse

    return parse(text, source)


def in_parallel(fn: Callable[[T], R], items: list[T], workers: int,
                on_done: Callable[[T, R], None] | None = None) -> list[R]:
    """fn over items on `workers` threads, in order. The first exception (or Ctrl-C in
    the caller's thread) stops handing out new items; those running finish (a deploy
    rolls itself back, or completes: the caller undoes it), then it is re-raised."""
    results: dict[int, R] = {}
    stop = threading.Event()

    def one(i: int) -> None:
        if stop.is_set():
            return
        try:
            r = fn(items[i])
        except BaseException:
            stop.set()  # at once: the items queued behind this one must not start
            raise
        results[i] = r
        if on_done is not None:
            on_done(items[i], r)

    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(items))),
                              thread_name_prefix="netlab-class")
    futures: list[Future[None]] = []
    try:
        futures = [pool.submit(one, i) for i in range(len(items))]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for f in done:
            if f.exception() is not None:
                raise f.exception()  # type: ignore[misc]
    except BaseException:
        stop.set()
        with _signals_held():
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [results[i] for i in range(len(items))]


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Clean-up that a second Ctrl-C must not cut short (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in saved:
        signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def up(lab: str, students: list[str], name: str | None = None,
       caps: limits.Caps | None = None, limit: cgroups.Limits | None = None,
       workers: int = DEFAULT_WORKERS,
       progress: Callable[[str], None] | None = None) -> UpResult:
    """Deploy one copy of `lab` per student; all or nothing."""
    from netlab.errors import require_root
    from netlab.names import check_lab_name

    require_root("class up")
    t0 = time.perf_counter()
    topo, text = load_source(lab)
    cls = check_lab_name(name or topo.name, "class name")
    limit = limit or cgroups.Limits()
    support = cgroups.require(limit) if limit else None
    limits.check(caps or limits.Caps.defaults(), len(students), len(topo.plan.namespaces))
    with record.locked(cls):
        if record.exists(cls):
            raise UsageError(f"class {cls!r} is up already (`netlab class status {cls}`);"
                             f" take it down first (`netlab class down {cls}`), or name"
                             " the new one with --name")
        names = _free_names(cls, len(students))
        model = model_of(text, topo.path)
        plans = [compile_copy(model, topo.path, n) for n in names]
        rec = record.ClassRecord(cls, topo.path, text,
                                 [{"student": s, "lab": n} for s, n in zip(students, names,
                                                                          strict=True)],
                                 limit_dict(limit))
        record.write(rec)  # first: `class down` finds whatever an interruption leaves

        writing = threading.Lock()

        def done(p: Plan, groups: list[str]) -> None:
            if groups:  # on disk at once: `class down` must find them after a SIGKILL
                with writing:
                    rec.groups[p.lab] = groups
                    record.write(rec)
            if progress is not None:
                progress(p.lab)

        try:
            in_parallel(lambda p: _deploy_one(p, limit, support), plans, workers,
                        on_done=done)
        except BaseException as e:
            with _signals_held():
                left = _remove_all(rec.labs(), rec.groups, workers)
                if not left:
                    record.remove(cls)
            if isinstance(e, NetlabError):
                note = ("every copy made was removed" if not left else
                        f"removing the copies failed for {', '.join(left)}:"
                        f" `netlab class down {cls}` removes the rest")
                err = NetlabError(f"class {cls}: {e}; {note}")
                err.exit_code = e.exit_code
                raise err from e
            raise
        rec.state = "up"
        record.write(rec)
    return UpResult(rec, time.perf_counter() - t0, sum(len(p.namespaces) for p in plans),
                    support, [w.render(topo.path) for w in topo.warnings])


def limit_dict(limit: cgroups.Limits) -> dict[str, Any]:
    return {"memory": limit.memory, "cpus": limit.cpus}


def _free_names(cls: str, count: int) -> list[str]:
    """Copy names no deployed lab, other class or namespace uses; refused otherwise."""
    from netlab import api

    names = roster.copy_names(cls, count)
    taken = set(api.labs(half_built=True))
    for other in record.classes():
        with contextlib.suppress(NetlabError):
            taken |= set(record.read(other).labs())
    from netlab.linux.netns import NETNS_RUN_DIR  # namespaces are global: any lab's

    try:
        netns = os.listdir(NETNS_RUN_DIR)
    except FileNotFoundError:
        netns = []
    clash = [n for n in names if n in taken or any(x.startswith(n + "-") for x in netns)]
    if clash:
        raise UsageError(f"the copies of class {cls!r} would be named {names[0]} ..."
                         f" {names[-1]}, but {', '.join(clash[:5])}"
                         f"{' ...' if len(clash) > 5 else ''} already exist (a lab, another"
                         " class's copy or namespaces); name the class with --name")
    return names


def _deploy_one(plan: Plan, limit: cgroups.Limits, support: cgroups.Support | None
                ) -> list[str]:
    """Deploy one copy and put its processes in their groups: the groups' paths."""
    from netlab.lab import Lab

    lab = Lab.deploy(plan)
    if not limit or support is None:
        return []
    made: list[Path] = []
    try:
        made = cgroups.create(plan.lab, limit, support)
        cgroups.attach(made, lab_pids(lab))
    except BaseException:
        cgroups.remove(plan.lab, [str(g) for g in made])
        raise  # the caller destroys the copy with the others
    return [str(g) for g in made]


def lab_pids(lab: Any) -> list[int]:
    """The processes a deployed lab runs (its nodes' exec/startup/daemons)."""
    return [p.pid for n in lab.status().nodes for p in n.processes if p.alive]


def _remove_all(labs: list[str], groups: dict[str, list[str]],
                workers: int) -> list[str]:
    """Destroy every lab (idempotent), in parallel; the labs that could not be."""
    from netlab import api

    failed: list[str] = []

    def one(name: str) -> None:
        try:
            api.destroy(name)
        except Exception:
            failed.append(name)
        cgroups.remove(name, groups.get(name, []))

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(labs) or 1))) as pool:
        list(pool.map(one, labs))
    return failed


def down(cls: str, workers: int = DEFAULT_WORKERS) -> tuple[int, list[str]]:
    """Destroy every copy of the class, then its record: (copies, those that failed)."""
    from netlab.errors import require_root

    require_root("class down")
    with record.locked(cls):
        rec = record.read(cls)
        with _signals_held():
            failed = _remove_all(rec.labs(), rec.groups, workers)
            if not failed:
                record.remove(cls)
    return len(rec.labs()), failed


@dataclass
class CopyStatus:
    student: str
    lab: str
    state: str  # "up", "drift", "missing", "error"
    detail: str = ""


def status(cls: str, workers: int = DEFAULT_WORKERS) -> tuple[record.ClassRecord,
                                                              list[CopyStatus]]:
    """Each copy as the machine has it: up (kernel matches the plan), drift, missing."""
    from netlab import api
    from netlab.lab import Lab

    rec = record.read(cls)
    deployed = set(api.labs())

    def one(s: dict[str, str]) -> CopyStatus:
        if s["lab"] not in deployed:
            return CopyStatus(s["student"], s["lab"], "missing", "not deployed")
        try:
            st = Lab.attach(s["lab"]).status()
        except NetlabError as e:
            return CopyStatus(s["student"], s["lab"], "error", str(e))
        if st.drift:
            return CopyStatus(s["student"], s["lab"], "drift",
                              f"{plural(len(st.drift), 'difference')}: {st.drift[0]}")
        return CopyStatus(s["student"], s["lab"], "up")

    return rec, in_parallel(one, rec.students, workers)
