"""Roster names are untrusted: validated, every problem at once; copy names are always
valid lab names, whatever the class name and the number of students."""

from __future__ import annotations

from pathlib import Path

import pytest

from netlab.classroom import roster
from netlab.errors import TopologyError
from netlab.names import lab_name_problem


def test_roster_reads_names_skipping_comments_and_blanks(tmp_path: Path) -> None:
    f = tmp_path / "r.txt"
    f.write_text("\ufeff# class of 2026\nAlice Smith\n\n  Bob O'Neil  \nZoë <b>x</b>\n")
    assert roster.read_roster(f) == ["Alice Smith", "Bob O'Neil", "Zoë <b>x</b>"]


def test_roster_reports_every_bad_line_at_once(tmp_path: Path) -> None:
    f = tmp_path / "r.txt"
    f.write_text("ok\nbad\x1b[31mred\n=HYPERLINK(\"x\")\nOK\n" + "x" * 81 + "\nrtl\u202eevil\n")
    with pytest.raises(TopologyError) as e:
        roster.read_roster(f)
    text = e.value.render()
    assert "line 2: student name contains a control" in text
    assert "line 3: student name starts with '='" in text
    assert "line 4: the same student as line 1" in text
    assert "line 5: student name is 81 characters long" in text
    assert "line 6:" in text and "U+202E" in text
    assert "5 errors" in text


def test_empty_and_unreadable_rosters_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "r.txt"
    f.write_text("# nobody\n")
    with pytest.raises(TopologyError, match="no student names"):
        roster.read_roster(f)
    f.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(Exception, match="not UTF-8"):
        roster.read_roster(f)


@pytest.mark.parametrize(("base", "count"), [("lan4", 3), ("router-lans", 30),
                                             ("abcdefghijkl", 100), ("ab-", 1000)])
def test_copy_names_are_valid_distinct_lab_names(base: str, count: int) -> None:
    names = roster.copy_names(base, count)
    assert len(set(names)) == count
    assert all(lab_name_problem(n) is None for n in names), names[:3]
    assert names[0].startswith(base[:4].rstrip("-"))


def test_numbered_students() -> None:
    assert roster.numbered(3) == ["student01", "student02", "student03"]
    assert roster.numbered(100)[-1] == "student100"
