"""`netlab check`'s body and its output, without typer: run by the typer verb
(netlab/cli/probes.py), by `deploy --check` and, before typer is even imported, by the
fast path of `netlab check NAME` (netlab/cli/fast.py): one code, the same bytes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from netlab.cli.plain import echo, emit_json

if TYPE_CHECKING:
    from netlab.probes.results import CheckReport


def run_check(target: str | Path | None, lab: str | None, as_json: bool = False,
              junit: Path | None = None, retry: float = 0.0, csv: Path | None = None,
              gradescope: Path | None = None) -> CheckReport:
    """check's body, also used by `netlab deploy FILE --check` (with retry > 0: failed
    reach=true expectations are re-run for that many seconds, see netlab.api.check).
    Output files are vetted before any probe is sent, and each written whole or not."""
    from netlab import api

    outputs = [(o, path) for o, path in (("--junit", junit), ("--csv", csv),
                                         ("--gradescope", gradescope)) if path is not None]
    if outputs:  # imported only when asked for: a plain check starts faster without them
        from netlab.probes import grading
        from netlab.probes.junit import to_junit
    for option, path in outputs:
        grading.writable(path, option)
    report = api.check(target, lab, retry=retry)
    _keep_last(report)
    if junit is not None:
        grading.write_atomic(junit, to_junit(report))
    if csv is not None:
        grading.write_csv(csv, report)
    if gradescope is not None:
        grading.write_gradescope(gradescope, report)
    if as_json:
        emit_json(report.to_dict())
    else:
        print_report(report)
    return report


def _keep_last(report: CheckReport) -> None:
    """Record the check in the lab's state, where `netlab web` shows it on the graph. A
    record that cannot be written costs the check nothing: it is said on stderr."""
    from netlab import api
    from netlab.errors import NetlabError

    try:
        api.last_check(report.lab, report, origin="cli")
    except (OSError, NetlabError) as e:
        echo(f"netlab: the check was not recorded for `netlab web`: {e}", err=True)


def print_report(report: CheckReport) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not report.results:
        console.print(f"lab {report.lab}: no expectations to check", markup=False)
        return
    table = Table(title=f"check: lab {escape(report.lab)}")
    table.add_column("#", justify="right")
    table.add_column("expectation")
    table.add_column("result", justify="center")
    table.add_column("seen")
    for r in report.results:
        verdict = "[bold red]FAIL[/]" if not r.passed else "[green]pass[/]" + (
            f" ({r.elapsed_s:.1f} s)" if r.tries > 1 else "")  # it converged (within)
        seen = escape(r.seen) + (f"\n[yellow]hint: {escape(r.hint)}[/]" if r.hint else "")
        table.add_row(str(r.index), escape(r.title.split("] ", 1)[-1]), verdict, seen)
    console.print(table)
    failed = len(report.failed)
    colour = "red" if failed else "green"
    console.print(f"[{colour}]{len(report.results) - failed}/{len(report.results)} expectations"
                  f" passed[/] in {report.elapsed_s:.2f} s")
    console.print(f"score: {report.score:g}/{report.max_score:g}", markup=False)
