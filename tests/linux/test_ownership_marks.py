"""The marks netlab leaves in its namespaces and /run/netns files (linux/ownership.py),
read back: whose lab, and from which run directory (no root needed)."""

from __future__ import annotations

import pytest

from netlab.linux import ownership
from netlab.state import layout

A, B = "0123abcd", "89ef4567"


@pytest.mark.parametrize(("token", "run", "ours"), [
    (f"{A}.00112233aabb", A, True),
    (f"{A}.00112233aabb", B, False),  # the same lab name, deployed from another run dir
    (f"{A}.00112233aabb", None, True),
    ("00112233aabbccdd", A, True),  # made before run tags: any run directory's
    (f"{A}.", A, False), (f".{A}", A, False), ("", A, False), ("", None, False),
])
def test_a_marker_names_the_lab_and_the_run_directory(token: str, run: str | None,
                                                      ours: bool) -> None:
    assert ownership.marker_of_lab(ownership.marker("lab1", "p-h1", token), "lab1", "p-h1",
                                   run) is ours
    assert ownership.file_marker_of_lab(ownership.file_marker("lab1", token), "lab1",
                                        run) is ours
    assert not ownership.marker_of_lab(ownership.marker("lab2", "p-h1", token), "lab1",
                                       "p-h1", run)


def test_each_run_directory_has_its_own_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(layout.RUN_DIR_ENV, "/run/netlab")
    default = layout.run_tag()
    monkeypatch.setenv(layout.RUN_DIR_ENV, "/run/netlab/")  # the same directory
    assert layout.run_tag() == default
    monkeypatch.setenv(layout.RUN_DIR_ENV, "/srv/class/run")
    other = layout.run_tag()
    assert other != default and len(other) == 8 and int(other, 16) >= 0
