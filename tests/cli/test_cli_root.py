"""Verbs that need root refuse at once, with exit 2, when run without it (no root needed)."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from netlab.cli import app


@pytest.mark.parametrize("argv", [
    ["deploy", "topologies/natgw.toml"],
    ["destroy", "natgw"],
    ["destroy", "--all"],
    ["status"],
    ["exec", "pc1", "--", "true"],
    ["shell", "pc1"],
])
def test_non_root_fails_at_once_with_exit_2(argv: list[str], monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("NETLAB_RUN_DIR", str(tmp_path / "run"))  # nothing is touched
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 2, r.output
    assert "needs root" in r.output
    assert not (tmp_path / "run").exists()


def test_lab_is_required_when_several_are_deployed(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from netlab.state import store

    monkeypatch.setenv(store.RUN_DIR_ENV, str(tmp_path))
    for name in ("t3one", "t3two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "plan.json").write_text("{}")
    with pytest.raises(store.UsageError, match="t3one, t3two"):
        store.resolve_lab(None)
