"""The one CLI runner, two ways: `netlab()` in-process (typer's CliRunner, fast; from the
repository root, so paths in output are relative and golden files do not depend on where
the checkout lives) and `run()`/`spawn()` as a child process (the real command, as a
person runs it: exit codes, signals, environment)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.support import REPO


class Run(NamedTuple):
    """What an in-process run said (a tuple too: `code, out, err = invoke(...)`)."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(*args: str) -> Run:
    """`netlab ARGS` in-process, in the current directory."""
    from typer.testing import CliRunner

    from netlab.cli import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def netlab(monkeypatch: pytest.MonkeyPatch, *args: str, cwd: Path = REPO) -> Run:
    """`netlab ARGS` in-process, from `cwd` (the repository root: paths in the output are
    then relative, as golden files hold them)."""
    monkeypatch.chdir(cwd)
    return invoke(*args)


def run(*args: str, timeout: float = 120, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """`netlab ARGS` in a child process, output captured as text."""
    return subprocess.run([sys.executable, "-m", "netlab", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def spawn(*args: str, env: dict[str, str] | None = None,
          group: bool = False) -> subprocess.Popen[str]:
    """`netlab ARGS` in the background; `group`: in a process group of its own, so that
    os.killpg reaches it and its children together, as Ctrl-C in a terminal does."""
    return subprocess.Popen([sys.executable, "-m", "netlab", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=group)


def no_traceback(r: subprocess.CompletedProcess[str] | Run) -> bool:
    return "Traceback" not in r.stderr + r.stdout
