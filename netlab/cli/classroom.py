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


UsersOpt = Annotated[bool, typer.Option(
    "--users", help="Students' own rootless labs (every user's), instead of a class's"
    " copies; needs root.")]
GroupOpt = Annotated[str | None, typer.Option(
    "--group", help="With --users: only the members of this Unix group.")]
SharedOpt = Annotated[Path | None, typer.Option(
    "--shared", help="Students' own labs that they share in this directory (`netlab"
    " class share`); no root needed, but the answers come from the students' processes.")]


@class_app.command("status")
def status(lab: Annotated[str | None, typer.Argument(
               help="The class (its lab's name, or --name); with --users: only the labs"
               " of this name.", show_default=False)] = None,
           users: UsersOpt = False, group: GroupOpt = None, shared: SharedOpt = None,
           workers: WorkersOpt = 0) -> None:
    """Each student's copy: up, drift (changed since deploy) or missing (exit 1 unless
    all are up). With --users: every user's own rootless labs."""
    with friendly_errors():
        from netlab.classroom import deploy
        from netlab.errors import require_root

        if group is not None and not users:
            raise UsageError("--group goes with --users")
        if users and shared is not None:
            raise UsageError("--users (as root) or --shared DIR, not both")
        if users or shared is not None:
            from netlab.classroom import students

            if users:
                require_root("class status --users")
            _users_status(lab, group, workers or students.WORKERS, shared)
            return
        if lab is None:
            raise UsageError("name the class: `netlab class status LAB` (or `--users` for"
                             " the students' own rootless labs)")
        require_root("class status")
        rec, rows = deploy.status(lab, workers or deploy.DEFAULT_WORKERS)
        typer.echo(f"class {rec.name}: {len(rows)} copies of {rec.source} ({rec.state})")
        _print_students(rec.students, {r.lab: r.state + (f": {r.detail}" if r.detail
                                                         else "") for r in rows})
        if any(r.state != "up" for r in rows):
            raise typer.Exit(1)


def _users_status(lab: str | None, group: str | None, workers: int,
                  shared: Path | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from netlab.classroom import share, students

    rows = students.status(lab, workers, group) if shared is None else \
        share.status(shared, lab)
    users = sorted({r.user for r in rows})
    typer.echo(f"students' own labs: {len(users)} users"
               + (" with a rootless holder," if shared is None else
                  f" sharing in {shared} (their own answers),")
               + f" {sum(bool(r.lab) and r.state != 'missing' for r in rows)} labs"
               + (f" (only {lab})" if lab else ""))
    t = Table("user", "lab", "state", box=None, header_style="bold")
    for r in rows:
        t.add_row(escape(r.user), escape(r.lab),
                  escape(r.state + (f": {r.detail}" if r.detail else "")))
    Console(highlight=False).print(t)
    if any(r.state not in ("up", "no lab") for r in rows):
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
                gradescope_dir: ScopeOpt = None, users: Annotated[bool, typer.Option(
                    "--users", help="Grade every user's own rootless lab named as LAB's"
                    " (LAB: the lab they were given); needs root.")] = False,
                group: GroupOpt = None, shared: SharedOpt = None, workers: WorkersOpt = 0) -> None:
    """Check every student's copy (in parallel); print and write the grades."""
    with friendly_errors():
        from netlab.classroom import grade, report

        if group is not None and not users:
            raise UsageError("--group goes with --users")
        if users and shared is not None:
            raise UsageError("--users (as root) or --shared DIR, not both")
        if shared is not None:
            from netlab.classroom import share

            report.vet(csv_path, json_path, html_path, gradescope_dir)
            name, grades = share.grade(lab, shared, expect)
            _show_grades(grades, f"students' own labs {name} (their own answers)")
            report.write(grades, name, csv_path, json_path, html_path, gradescope_dir)
            return
        if users:
            from netlab.classroom import students
            from netlab.errors import require_root

            require_root("class grade --users")
            report.vet(csv_path, json_path, html_path, gradescope_dir)
            name, grades = students.grade(lab, expect, workers or students.WORKERS, group)
            _show_grades(grades, f"students' own labs {name}")
            report.write(grades, name, csv_path, json_path, html_path, gradescope_dir)
            return
        report.vet(csv_path, json_path, html_path, gradescope_dir)
        rec, grades = grade.grade_class(lab, expect, workers or grade.GRADE_WORKERS)
        _show_grades(grades, f"class {rec.name}")
        report.write(grades, rec.name, csv_path, json_path, html_path, gradescope_dir)


@class_app.command("share")
def share_cmd(directory: Annotated[Path, typer.Argument(
                  help="The class's shared directory (sticky, e.g. made with `sudo install"
                  " -d -m 1777 DIR`).", show_default=False)],
              group: Annotated[str, typer.Option(
                  "--group", help="The teachers' Unix group: only its members (and root)"
                  " get answers.", show_default=False)]) -> None:
    """Let the teacher group see and check your own labs (until Ctrl-C): a socket
    DIR/<you>.sock that answers its members' `class status/grade --shared DIR`."""
    with friendly_errors():
        from netlab.classroom import share

        def ready(path: Path) -> None:
            typer.echo(f"sharing your labs with group {group} at {path}; Ctrl-C stops")

        share.serve(directory, group, ready)


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
