"""`netlab graph -o x.svg` stays readable for a star: a 24-host switch used to come out as
one rank of 24 labels, a 3077x128 pt strip (dot ranks an undirected graph by distance)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from netlab.plan.render import to_dot
from tests.support.cli import netlab
from tests.support.compile import compile_text
from tests.support.gen import star


def test_a_star_is_drawn_around_its_hub() -> None:
    dot = to_dot(compile_text(star(24, "star24")).graph)
    assert 'layout=twopi, root="lan"' in dot
    # Each host's interface and address in its own box, not on a crowded line.
    assert re.search(r'"h7" \[label="h7\\neth0 10\.0\.0\.\d+/16"', dot), dot
    assert '"h7" -- "lan" [label=""]' in dot


def test_other_labs_keep_dot() -> None:
    dot = to_dot(compile_text(star(3, "small")).graph)
    assert "layout=" not in dot and "graph [overlap=false, splines=true];" in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
def test_star24_svg_is_near_square(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    src = tmp_path / "star24.toml"
    src.write_text(star(24, "star24"))
    out = tmp_path / "star24.svg"
    run = netlab(monkeypatch, "graph", str(src), "-o", str(out))
    assert run.code == 0, run.stderr
    m = re.search(r'<svg width="(\d+)pt" height="(\d+)pt"', out.read_text())
    assert m is not None
    w, h = int(m[1]), int(m[2])
    assert max(w, h) / min(w, h) < 1.5 and max(w, h) < 1500, (w, h)
