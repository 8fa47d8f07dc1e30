"""Grades for `netlab check --csv FILE` and `--gradescope FILE`, from the CheckReport.

CSV: one row per expectation (index, title, result, points, score, hint, seen), for a
spreadsheet of a class. Gradescope: the autograder's results.json (score, max_score, and
one test per expectation with name, score, max_score, output and status), documented at
https://gradescope-autograders.readthedocs.io/en/latest/specs/ . Both written atomically
(a grader never reads half a file), after `writable` has vetted the path before probing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from netlab.errors import UsageError
from netlab.probes.results import CheckReport, CheckResult

CSV_HEADER = ["index", "title", "result", "points", "score", "hint", "seen"]


def _title(r: CheckResult) -> str:
    return r.title.split("] ", 1)[-1]  # "[3] pc1 -> web ...": the index has its own column


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x  # 1, not 1.0, in a grade book


def to_csv(report: CheckReport) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_HEADER)
    for r in report.results:
        w.writerow([r.index, _title(r), "pass" if r.passed else "fail", _number(r.points),
                    _number(r.score), (r.hint or "") if not r.passed else "", r.seen])
    return out.getvalue()


def to_gradescope(report: CheckReport) -> dict[str, Any]:
    tests = []
    for r in report.results:
        lines = [f"seen: {r.seen}", *r.details]
        if not r.passed and r.hint:
            lines.append(f"hint: {r.hint}")
        tests.append({"name": _title(r), "number": str(r.index), "score": _number(r.score),
                      "max_score": _number(r.points), "output": "\n".join(lines),
                      "status": "passed" if r.passed else "failed"})
    passed = len(report.results) - len(report.failed)
    return {"score": _number(report.score), "max_score": _number(report.max_score),
            "execution_time": round(report.elapsed_s, 3),
            "output": f"lab {report.lab}: {passed}/{len(report.results)} expectations passed",
            "tests": tests}


def writable(path: Path, option: str) -> None:
    """Refuse, before any probe runs, an output path that cannot be written: its directory
    missing or not writable, or the path a directory (UsageError, exit 2)."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory; give a file path")
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: the directory {parent} is not writable")


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory, renamed over
    it: a reader sees the old file or the whole new one. The rename replaces a symlink at
    `path` itself rather than writing through it."""
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide grades from the grader's user
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def write_gradescope(path: Path, report: CheckReport) -> None:
    write_atomic(path, json.dumps(to_gradescope(report), indent=2) + "\n")


def write_csv(path: Path, report: CheckReport) -> None:
    write_atomic(path, to_csv(report))
