"""Golden-file comparison: NETLAB_UPDATE_GOLDEN=1 rewrites the files instead of comparing.

    NETLAB_UPDATE_GOLDEN=1 python3 -m pytest -q tests/topology tests/plan
    git diff tests/golden   # then review every change
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from tests.support import REPO

GOLDEN = REPO / "tests" / "golden"
UPDATE = os.environ.get("NETLAB_UPDATE_GOLDEN") == "1"


def check(path: Path, actual: str) -> None:
    """Fail, with a diff, unless `actual` equals the golden file's text."""
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    if not path.exists():
        pytest.fail(f"no golden file {path.relative_to(REPO)}; create it with "
                    "NETLAB_UPDATE_GOLDEN=1 python3 -m pytest tests/topology tests/plan and"
                    " review it")
    expected = path.read_text()
    if actual != expected:
        diff = "".join(difflib.unified_diff(
            expected.splitlines(keepends=True), actual.splitlines(keepends=True),
            fromfile=f"{path.relative_to(REPO)} (expected)", tofile="actual"))
        pytest.fail(f"output differs from the golden file:\n{diff}\n"
                    "(if the change is intended: NETLAB_UPDATE_GOLDEN=1, then review the diff)")
