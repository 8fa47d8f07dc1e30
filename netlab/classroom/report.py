"""Grade sheets of a class: CSV (one row per student, one column per expectation), JSON,
one HTML page (per student: score, each expectation, what was seen, hints), and a
Gradescope results.json per student (netlab.probes.grading's format).

Every text that came from a student (names, submissions, what a probe saw) is escaped
for where it goes: HTML-escaped in the page; in CSV, a cell that a spreadsheet would run
as a formula gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import time
from pathlib import Path
from typing import Any

from netlab.classroom.grade import Grade
from netlab.probes import grading


def _cell(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def titles(grades: list[Grade]) -> list[str]:
    """The expectations' titles, in order (from the first graded copy)."""
    for g in grades:
        if g.report is not None:
            return [f"[{r.index}] " + grading._title(r) for r in g.report.results]
    return []


def to_csv(grades: list[Grade]) -> str:
    heads = titles(grades)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["student", "lab", "score", "max_score", "passed", "total", "error", *heads])
    for g in grades:
        cells = ["pass" if r.passed else "fail" for r in g.report.results] \
            if g.report is not None else [""] * len(heads)
        w.writerow([_cell(g.student), g.lab, grading._number(g.score),
                    grading._number(g.max_score), g.passed,
                    len(g.report) if g.report is not None else len(heads),
                    _cell(g.error.replace("\n", " | ")), *cells])
    return out.getvalue()


def to_json(what: str, grades: list[Grade]) -> dict[str, Any]:
    return {"class": what, "students": [
        {"student": g.student, "lab": g.lab, "score": g.score, "max_score": g.max_score,
         "passed": g.passed, "error": g.error or None,
         "report": g.report.to_dict() if g.report is not None else None} for g in grades]}


def gradescope(g: Grade) -> dict[str, Any]:
    if g.report is not None:
        return grading.to_gradescope(g.report)
    return {"score": 0, "max_score": grading._number(g.max_score), "output": g.error,
            "tests": []}


def slug(index: int, student: str) -> str:
    """A directory name for a student: the position, then the name's safe letters."""
    safe = re.sub(r"[^a-z0-9]+", "-", student.lower()).strip("-")[:40]
    return f"{index:03d}-{safe}" if safe else f"{index:03d}"


def write_gradescope(directory: Path, grades: list[Grade]) -> None:
    """DIR/<NNN-name>/results.json per student, and DIR/students.csv saying whose."""
    if not directory.is_dir():
        directory.mkdir()
    index = io.StringIO()
    w = csv.writer(index, lineterminator="\n")
    w.writerow(["student", "lab", "results"])
    for i, g in enumerate(grades, 1):
        d = directory / slug(i, g.student)
        if d.is_symlink() or (d.exists() and not d.is_dir()):
            d.unlink()
        d.mkdir(exist_ok=True)
        grading.write_atomic(d / "results.json", json.dumps(gradescope(g), indent=2) + "\n")
        w.writerow([_cell(g.student), g.lab, f"{d.name}/results.json"])
    grading.write_atomic(directory / "students.csv", index.getvalue())


_STYLE = """body{font-family:sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;
vertical-align:top;text-align:left}.pass{color:#080}.fail{color:#b00}
.hint{color:#555;font-style:italic}section{margin-top:2em}"""


def to_html(what: str, grades: list[Grade]) -> str:
    e = html.escape
    rows = "".join(
        f'<tr><td><a href="#s{i}">{e(g.student)}</a></td><td>{e(g.lab)}</td>'
        f"<td>{grading._number(g.score)} / {grading._number(g.max_score)}</td>"
        f'<td class="{"pass" if g.report is not None and g.report.ok else "fail"}">'
        f"{g.passed} / {len(g.report) if g.report else 0}</td></tr>"
        for i, g in enumerate(grades, 1))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>grades of"
             f" {e(what)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>Grades of {e(what)}</h1><p>{len(grades)} students, graded"
             f" {e(time.strftime('%Y-%m-%d %H:%M'))}</p>",
             "<table><tr><th>student</th><th>lab</th><th>score</th><th>passed</th></tr>",
             rows, "</table>"]
    for i, g in enumerate(grades, 1):
        parts.append(f'<section id="s{i}"><h2>{e(g.student)}</h2><p>score'
                     f" <b>{grading._number(g.score)} / {grading._number(g.max_score)}</b>"
                     + (f" &middot; lab {e(g.lab)}" if g.lab else "") + "</p>")
        if g.error:
            parts.append(f'<pre class="fail">{e(g.error)}</pre>')
        if g.report is not None:
            parts.append("<table><tr><th>#</th><th>expectation</th><th>result</th>"
                         "<th>points</th><th>seen</th></tr>")
            for r in g.report.results:
                hint = f'<div class="hint">hint: {e(r.hint)}</div>' if r.hint and \
                    not r.passed else ""
                details = "".join(f"<div>{e(d)}</div>" for d in r.details)
                parts.append(
                    f"<tr><td>{r.index}</td><td>{e(grading._title(r))}</td>"
                    f'<td class="{"pass" if r.passed else "fail"}">'
                    f'{"pass" if r.passed else "fail"}</td>'
                    f"<td>{grading._number(r.score)} / {grading._number(r.points)}</td>"
                    f"<td>{e(r.seen)}{details}{hint}</td></tr>")
            parts.append("</table>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write(grades: list[Grade], what: str, csv_path: Path | None = None,
          json_path: Path | None = None, html_path: Path | None = None,
          gradescope_dir: Path | None = None) -> None:
    if csv_path is not None:
        grading.write_atomic(csv_path, to_csv(grades))
    if json_path is not None:
        grading.write_atomic(json_path, json.dumps(to_json(what, grades), indent=2) + "\n")
    if html_path is not None:
        grading.write_atomic(html_path, to_html(what, grades))
    if gradescope_dir is not None:
        write_gradescope(gradescope_dir, grades)


def vet(csv_path: Path | None, json_path: Path | None, html_path: Path | None,
        gradescope_dir: Path | None) -> None:
    """Refuse unwritable outputs before anything is deployed or probed (exit 2)."""
    from netlab.errors import UsageError

    for p, opt in ((csv_path, "--csv"), (json_path, "--json"), (html_path, "--html")):
        if p is not None:
            grading.writable(p, opt)
    if gradescope_dir is not None:
        if gradescope_dir.exists() and not gradescope_dir.is_dir():
            raise UsageError(f"--gradescope {gradescope_dir}: not a directory")
        parent = gradescope_dir if gradescope_dir.is_dir() else gradescope_dir.parent
        grading.writable(parent / "x", "--gradescope")
