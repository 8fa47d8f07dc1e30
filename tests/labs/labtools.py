"""Helpers for the bundled-lab tests: the expected failures of exercise labs, and the
names and renamed copies tests deploy bundled labs under (never a student's lab name)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

# Expectation indexes that must FAIL in a bundled lab (exercises with deliberate faults);
# every other expectation of every lab must pass. Keep in step with docs/labs/<lab>.md.
EXPECTED_FAILURES: dict[str, set[int]] = {
    "broken": {3, 4, 5},  # wrong gateway on pc1 (3, 5) and no route back to lan1 on r2 (4)
}

TEST_PREFIX = "t6"


def deploy_name(lab: str) -> str:
    """A unique, valid lab name for deploying bundled lab `lab` from tests."""
    return (TEST_PREFIX + lab.replace("-", ""))[:12]


def renamed_copy(src: Path, new_name: str, outdir: Path) -> Path:
    """`src` with its [lab] name replaced, so tests never touch a student's lab."""
    text = src.read_text(encoding="utf-8")
    lab = tomllib.loads(text)["lab"]
    assert "prefix" not in lab, f"{src}: a bundled lab must not set lab.prefix"
    text, n = re.subn(rf'^name\s*=\s*"{re.escape(lab["name"])}"', f'name = "{new_name}"',
                      text, count=1, flags=re.M)
    assert n == 1, f"{src}: cannot find the [lab] name line"
    out = outdir / f"{new_name}.toml"
    out.write_text(text, encoding="utf-8")
    return out
