"""Running the `netlab` CLI in-process, from the repository root (paths in output are
relative, so golden files do not depend on where the checkout lives)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from netlab.cli import app

from .golden import REPO


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def netlab(monkeypatch: pytest.MonkeyPatch, *args: str) -> Run:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)
