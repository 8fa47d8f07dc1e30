"""Grading a class: every copy against the lab's expectations (or a teacher's file), in
parallel; and grading submitted topologies, each deployed in turn under a name of
netlab's choosing, graded with the teacher's expectations, and destroyed.

A submission is untrusted: whatever is wrong with it (not TOML, bad names, a deploy that
fails, a lab name that collides with a deployed lab: it is never used, the copy gets
its own) is that student's failed row, never a crash and never a leftover. Node `exec`,
`startup` and `files` of a submission would run commands or read files as root on the
grading server: refused unless the teacher passes --trust.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netlab.classroom import deploy, record
from netlab.errors import NetlabError, Problem, TopologyError, UsageError

if TYPE_CHECKING:
    from netlab.probes.results import CheckReport
    from netlab.topology.model import TopologyFile


# Copies checked at once: a check mostly waits (for replies, or for the timeout that
# proves "no reach"), so many overlap well even on 2 CPUs (30 copies of lan4, graded:
# 16 at once 3.1 s, 32 at once 2.2 s).
GRADE_WORKERS = 32


@dataclass
class Grade:
    student: str  # as in the roster, or the submission's path
    lab: str  # the copy graded ("" when none was deployed)
    report: CheckReport | None  # None: nothing could be checked (error says why)
    error: str = ""
    max_points: float = 0.0  # what a full score is (also for a failed row)

    @property
    def score(self) -> float:
        return self.report.score if self.report is not None else 0.0

    @property
    def max_score(self) -> float:
        return self.report.max_score if self.report is not None else self.max_points

    @property
    def passed(self) -> int:
        return 0 if self.report is None else len(self.report) - len(self.report.failed)


def with_expect(model: TopologyFile, expect_file: str | Path) -> TopologyFile:
    """`model` with its [[expect]] list (and lab `within`) taken from `expect_file`: a
    topology file, or a file of [[expect]] tables only. Every problem at once."""
    from pydantic import ValidationError

    from netlab.topology.loader import read_table
    from netlab.topology.messages import problems_of
    from netlab.topology.model import TopologyFile

    raw = read_table(expect_file)
    expects = raw.get("expect")
    if not isinstance(expects, list) or not expects:
        raise TopologyError(str(expect_file), [Problem(
            "expect", "no [[expect]] tables", "write the expectations to grade with as"
            " [[expect]] tables (as in a topology file)")])
    lab = raw.get("lab") if isinstance(raw.get("lab"), dict) else {}
    within = lab.get("within", model.lab.within)  # type: ignore[union-attr]
    try:
        mine = TopologyFile.model_validate({"lab": {"name": model.lab.name, "within": within},
                                            "expect": expects})
    except ValidationError as e:
        raise TopologyError(str(expect_file), problems_of(e.errors())) from None
    return model.model_copy(update={"expect": mine.expect,
                                    "lab": model.lab.model_copy(update={"within": within})})


def grade_class(cls: str, expect_file: str | Path | None = None,
                workers: int = GRADE_WORKERS) -> tuple[record.ClassRecord,
                                                                list[Grade]]:
    """Every student's copy checked, one Grade each in roster order."""
    from netlab import api
    from netlab.errors import require_root
    from netlab.lab import Lab
    from netlab.probes.limits import ensure_neighbour_capacity, neighbour_entries

    require_root("class grade")
    rec = record.read(cls)
    model = deploy.model_of(rec.topology, rec.source)
    if expect_file is not None:
        model = with_expect(model, expect_file)
    try:
        sample = deploy.compile_copy(model, rec.source, model.lab.name)
    except TopologyError as e:
        if expect_file is None:
            raise
        # The lab compiled when the class went up: what is wrong now is the teacher's.
        raise TopologyError(str(expect_file), e.problems) from None
    full = sum(e.points for e in sample.expect)
    deployed = set(api.labs())
    live = [s["lab"] for s in rec.students if s["lab"] in deployed]
    if live:
        # The kernel's neighbour (ARP/NDP) table is one for the whole host, 1024 entries
        # by default, and an entry younger than 5 s is never reclaimed: 100 copies of a
        # 10-node lab probed at once need ~1400, and every probe past the limit was lost
        # ("timeout (no reply)", 31 of 100 healthy copies failed; `ip -s ntable`
        # table_fulls). Room is made as pingall makes it, held while the first copy is up.
        ensure_neighbour_capacity(neighbour_entries(sample) * len(live), live[0])

    def one(s: dict[str, str]) -> Grade:
        if s["lab"] not in deployed:
            return Grade(s["student"], s["lab"], None, "the copy is not deployed", full)
        try:
            plan = deploy.compile_copy(model, rec.source, s["lab"])
            # Few probes each: the copies, not the probes, are the parallel part here.
            return Grade(s["student"], s["lab"], Lab.attach(s["lab"]).check(plan.expect,
                                                                           workers=8),
                         max_points=full)
        except Exception as e:  # one copy's trouble is its row, not the class's
            why = str(e) if isinstance(e, NetlabError) else f"error: {type(e).__name__}: {e}"
            return Grade(s["student"], s["lab"], None, why, full)

    return rec, deploy.in_parallel(one, rec.students, workers)


# --- submissions ----------------------------------------------------------------------

_UNTRUSTED = ("exec", "startup", "files")


def _refusals(model: TopologyFile) -> list[str]:
    out = []
    for name, node in model.nodes.items():
        for key in _UNTRUSTED:
            if getattr(node, key, None):
                out.append(f"nodes.{name}.{key}")
    return out


SUBMISSION_NAMESPACES = 100  # a submission's lab at most (each is one student's topology)


def grade_submissions(teacher: str | Path, submissions: list[str], trust: bool = False,
                      progress: Any = None, max_namespaces: int = SUBMISSION_NAMESPACES,
                      ) -> tuple[str, list[Grade]]:
    """Each submission deployed in turn with the teacher's expectations, graded, and
    destroyed. Returns the teacher's lab name and one Grade per submission, in order."""
    from netlab import api
    from netlab.errors import require_root
    from netlab.topology.library import resolve

    require_root("grade")
    ref = api.load(resolve(str(teacher)))  # the teacher's file must be right: exit 2
    if not ref.model.expect:
        raise UsageError(f"{teacher} has no [[expect]] tables: nothing to grade with")
    full = sum(e.points for e in ref.plan.expect)
    grades = []
    for sub in submissions:
        g = _grade_one(ref.model, str(sub), full, trust, max_namespaces)
        grades.append(g)
        if progress is not None:
            progress(g)
    return ref.name, grades


def _grade_one(teacher: TopologyFile, sub: str, full: float, trust: bool,
               max_namespaces: int) -> Grade:
    from netlab import api

    name = _grading_name()
    try:
        plan = _submission_plan(teacher, sub, name, trust)
        if len(plan.namespaces) > max_namespaces:
            return Grade(sub, "", None, f"{sub}: the lab needs {len(plan.namespaces)}"
                         f" namespaces; a submission may have at most {max_namespaces}"
                         " (--max-namespaces)", full)
    except TopologyError as e:
        shown = [p.render(sub) for p in e.problems if p.severity == "error"][:10]
        return Grade(sub, "", None, "\n".join(shown) or str(e), full)
    except Exception as e:  # hostile input that got past the loader: this row fails
        return Grade(sub, "", None, f"{sub}: {e}", full)
    from netlab.lab import Lab

    try:
        lab = Lab.deploy(plan)
        return Grade(sub, name, lab.check(), max_points=full)
    except NetlabError as e:
        return Grade(sub, name, None, f"deploy failed: {e}", full)
    except Exception as e:  # a bug or the kernel: this row fails, the others go on
        return Grade(sub, name, None, f"error: {type(e).__name__}: {e}", full)
    finally:
        with contextlib.suppress(Exception):
            api.destroy(name)


def _grading_name() -> str:
    from netlab import api

    taken = set(api.labs(half_built=True))
    while True:
        name = "grade-" + secrets.token_hex(3)
        if name not in taken:
            return name


def _submission_plan(teacher: TopologyFile, sub: str, name: str, trust: bool) -> Any:
    from netlab import backends
    from netlab.compile.compiler import compile_topology
    from netlab.topology.loader import parse, read_text

    model = parse(read_text(sub), sub)
    problems = []
    if model.uplink is not None:
        problems.append(Problem("uplink", "a submission may not connect to the host",
                                "remove [uplink]"))
    if not trust:
        problems += [Problem(p, "a submission may not run commands or place files on the"
                             " grading server", "remove it (the teacher may pass --trust)")
                     for p in _refusals(model)]
    if problems:
        raise TopologyError(sub, problems)
    model = deploy.renamed(model, name).model_copy(update={"expect": teacher.expect})
    model = model.model_copy(update={"lab": model.lab.model_copy(
        update={"within": teacher.lab.within})})
    compiled = compile_topology(model, sub)
    if not trust:
        # Also what the file does not say: a `<dir>/<node>/` directory beside it is
        # mirrored into the node (and the submissions of a class often share one dir).
        placed = [f"nodes.{n.name}: {key}" for n in compiled.plan.nodes
                  for key in ("exec", "startup", "files") if getattr(n, key, None)]
        if placed:
            raise TopologyError(sub, [Problem(p, "a submission may not run commands or"
                                              " place files on the grading server",
                                              "remove it (the teacher may pass --trust)")
                                      for p in placed])
    machine = backends.get().preflight(model, compiled.plan)
    if any(p.severity == "error" for p in machine):
        raise TopologyError(sub, machine)
    return compiled.plan
