"""Verbs for teaching: `netlab class up|status|down|grade`, `netlab grade`, and the
checkpoints `netlab save|restore|reset` (netlab/classroom)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from netlab.cli.common import friendly_errors
from netlab.errors import UsageError

class_app = typer.Typer(help="A class on one server: a copy of a lab per student, graded"
                        " together.", no_args_is_help=True)

LabArg = Annotated[str, typer.Argument(help="The class: its lab's name (or --name).",
                                       show_default=False)]
WorkersOpt = Annotated[int, typer.Option("--workers", min=0, max=64,
                                         help="Copies handled at once (0: automatic).")]


def _echo_escaped(text: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(highlight=False).print(escape(text))


@class_app.command("up")
def up(
    lab: Annotated[str, typer.Argument(help="A bundled lab's name, or a topology file.",
                                       show_default=False)],
    roster_file: Annotated[Path | None, typer.Option(
        "--roster", help="Students, one name a line.")] = None,
    count: Annotated[int | None, typer.Option("--count", min=1, max=10000,
                                              help="Or: this many numbered students.")] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="Class name (default: the lab's); prefixes the copies' names.")] = None,
    memory: Annotated[str | None, typer.Option(
        "--memory", help="Memory limit of each copy's processes, e.g. 256M.")] = None,
    cpus: Annotated[str | None, typer.Option(
        "--cpus", help="CPU limit of each copy's processes, e.g. 0.5.")] = None,
    max_copies: Annotated[int | None, typer.Option("--max-copies", min=1,
                                                   help="Cap on this class's copies.")] = None,
    max_labs: Annotated[int | None, typer.Option("--max-labs", min=1,
                                                 help="Cap on this user's labs.")] = None,
    max_namespaces: Annotated[int | None, typer.Option(
        "--max-namespaces", min=1, help="Cap on this user's labs' namespaces.")] = None,
    workers: WorkersOpt = 0,
) -> None:
    """Deploy one isolated copy of LAB per student (all or nothing)."""
    with friendly_errors():
        from netlab.classroom import cgroups, deploy, limits, roster
        from netlab.errors import plural

        if (roster_file is None) == (count is None):
            raise UsageError("give the students: --roster FILE (one name a line) or"
                             " --count N")
        students = roster.read_roster(roster_file) if roster_file is not None else \
            roster.numbered(count or 0)
        limit = cgroups.Limits(cgroups.parse_memory(memory) if memory else None,
                               cgroups.parse_cpus(cpus) if cpus else None)
        caps = limits.Caps.defaults(max_copies, max_labs, max_namespaces)
        res = deploy.up(lab, students, name, caps, limit,
                        workers or deploy.DEFAULT_WORKERS)
        rec = res.rec
        for w in res.warnings:  # as `netlab deploy` shows them
            typer.echo(w, err=True)
        typer.echo(f"class {rec.name}: {len(rec.students)} copies of {rec.source},"
                   f" {plural(res.namespaces, 'namespace')} in {res.seconds:.2f} s")
        if res.support is not None:
            typer.echo(f"  limits per copy: {limit.describe()} ({res.support.why})")
        _print_students(rec.students)


def _print_students(students: list[dict[str, str]], extra: dict[str, str] | None = None
                    ) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = Table("student", "lab", *(["state"] if extra else []), box=None,
              header_style="bold")
    for s in students:
        t.add_row(escape(s["student"]), escape(s["lab"]),
                  *([escape(extra.get(s["lab"], ""))] if extra else []))
    Console(highlight=False).print(t)


@class_app.command("status")
def status(lab: LabArg, workers: WorkersOpt = 0) -> None:
    """Each student's copy: up, drift (changed since deploy) or missing (exit 1 unless
    all are up)."""
    with friendly_errors():
        from netlab.classroom import deploy
        from netlab.errors import require_root

        require_root("class status")
        rec, rows = deploy.status(lab, workers or deploy.DEFAULT_WORKERS)
        typer.echo(f"class {rec.name}: {len(rows)} copies of {rec.source} ({rec.state})")
        _print_students(rec.students, {r.lab: r.state + (f": {r.detail}" if r.detail
                                                         else "") for r in rows})
        if any(r.state != "up" for r in rows):
            raise typer.Exit(1)


@class_app.command("down")
def down(lab: LabArg, workers: WorkersOpt = 0) -> None:
    """Destroy every copy of the class, and its record."""
    with friendly_errors():
        from netlab.classroom import deploy

        n, failed = deploy.down(lab, workers or deploy.DEFAULT_WORKERS)
        if failed:
            typer.echo(f"error: class {lab}: could not destroy {', '.join(failed)};"
                       " the class record is kept, run `netlab class down` again", err=True)
            raise typer.Exit(1)
        typer.echo(f"class {lab}: {n} copies destroyed")


CsvOpt = Annotated[Path | None, typer.Option("--csv", help="Grade sheet: a row per student.")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="All results as JSON.")]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="One page: every student's"
                                              " expectations, what was seen, hints.")]
ScopeOpt = Annotated[Path | None, typer.Option(
    "--gradescope", help="Directory: a Gradescope results.json per student.")]


def _show_grades(grades: list, what: str) -> None:  # type: ignore[type-arg]
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from netlab.probes.grading import _number

    t = Table("student", "lab", "score", "passed", "note", box=None, header_style="bold")
    for g in grades:
        total = len(g.report) if g.report is not None else 0
        full = g.report is not None and g.report.ok
        colour = "green" if full else "red"
        note = g.error.splitlines()[0] if g.error else ", ".join(
            f"[{r.index}] failed" for r in (g.report.failed if g.report else []))[:60]
        t.add_row(escape(g.student), escape(g.lab),
                  f"[{colour}]{_number(g.score)}/{_number(g.max_score)}[/{colour}]",
                  f"{g.passed}/{total}", escape(note))
    con = Console(highlight=False)
    con.print(f"grades of {escape(what)}:")
    con.print(t)


@class_app.command("grade")
def class_grade(lab: LabArg,
                expect: Annotated[Path | None, typer.Option(
                    "--expect", help="Grade with these [[expect]] tables instead of the"
                    " lab's.")] = None,
                csv_path: CsvOpt = None, json_path: JsonOut = None, html_path: HtmlOpt = None,
                gradescope_dir: ScopeOpt = None, workers: WorkersOpt = 0) -> None:
    """Check every student's copy (in parallel); print and write the grades."""
    with friendly_errors():
        from netlab.classroom import grade, report

        report.vet(csv_path, json_path, html_path, gradescope_dir)
        rec, grades = grade.grade_class(lab, expect, workers or grade.GRADE_WORKERS)
        _show_grades(grades, f"class {rec.name}")
        report.write(grades, rec.name, csv_path, json_path, html_path, gradescope_dir)


def grade_verb(teacher: Annotated[str, typer.Argument(
                   help="The teacher's topology (its [[expect]] tables grade).",
                   show_default=False)],
               submissions: Annotated[list[str], typer.Argument(
                   help="Students' topology files.", show_default=False)],
               trust: Annotated[bool, typer.Option(
                   "--trust", help="Allow submissions' node exec/startup/files (they run"
                   " as root here).")] = False,
               max_namespaces: Annotated[int, typer.Option(
                   "--max-namespaces", min=1, help="Refuse a submission needing more.")
               ] = 100,
               csv_path: CsvOpt = None, json_path: JsonOut = None,
               html_path: HtmlOpt = None, gradescope_dir: ScopeOpt = None) -> None:
    """Deploy each submitted topology in turn, grade it with the teacher's expectations,
    destroy it. A broken submission is a failed row, not an error."""
    with friendly_errors():
        from netlab.classroom import grade, report

        report.vet(csv_path, json_path, html_path, gradescope_dir)

        def said(g: grade.Grade) -> None:
            _echo_escaped(f"  {g.student}: {g.score:g}/{g.max_score:g}"
                          + (" (failed: " + g.error.splitlines()[0] + ")" if g.error else ""))

        name, grades = grade.grade_submissions(teacher, submissions, trust, progress=said,
                                               max_namespaces=max_namespaces)
        _show_grades(grades, f"submissions for {name}")
        report.write(grades, name, csv_path, json_path, html_path, gradescope_dir)


DeployedArg = Annotated[str, typer.Argument(help="A deployed lab.", show_default=False)]
PointArg = Annotated[str, typer.Argument(help="Checkpoint name, e.g. before-nat.",
                                         show_default=False)]


def save(lab: DeployedArg, name: PointArg) -> None:
    """Record the lab's live configuration (addresses, routes, sysctls, nft rulesets)."""
    with friendly_errors():
        from netlab.classroom import checkpoint

        lab_name, _path, nodes = checkpoint.save(lab, name)
        typer.echo(f"lab {lab_name}: checkpoint {name} saved ({nodes} nodes); bring it back"
                   f" with `netlab restore {lab_name} {name}`")


def restore(lab: DeployedArg, name: PointArg) -> None:
    """Bring a checkpoint back: change what differs from it, node by node."""
    with friendly_errors():
        from netlab.classroom import checkpoint

        lab_name, changes = checkpoint.restore(lab, name)
        for c in changes:
            if c.changed or c.failed:
                _echo_escaped(f"  {c.node}: " + (", ".join(c.changed) or "nothing changed")
                              + "".join(f"; could not restore {f}" for f in c.failed))
        n = sum(bool(c.changed) for c in changes)
        typer.echo(f"lab {lab_name}: checkpoint {name} restored ({n} nodes changed)")
        if any(c.failed for c in changes):
            raise typer.Exit(1)


def reset(lab: DeployedArg) -> None:
    """Return the lab to its deployed state (redeployed from its plan; checkpoints kept)."""
    with friendly_errors():
        from netlab.classroom import checkpoint

        lab_name, took, kept = checkpoint.reset(lab)
        typer.echo(f"lab {lab_name}: reset to its deployed state in {took:.2f} s"
                   + (f" (checkpoints kept: {', '.join(kept)})" if kept else ""))


def register(app: typer.Typer) -> None:
    app.command()(save)
    app.command()(restore)
    app.command()(reset)
    app.add_typer(class_app, name="class")
    app.command("grade")(grade_verb)
