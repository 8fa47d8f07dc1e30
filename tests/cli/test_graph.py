"""`netlab graph`: DOT and Mermaid text, SVG/PNG through Graphviz, clear errors."""

from __future__ import annotations

import shutil

import pytest

from tests.support.cli import netlab

NATGW = "topologies/natgw.toml"


def test_dot(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    out = tmp_path / "natgw.dot"
    run = netlab(monkeypatch, "graph", NATGW, "-o", str(out))
    assert run.code == 0, run.stderr
    assert run.stdout == f"wrote {out}\n"
    text = out.read_text()
    assert text.startswith('graph "natgw" {')
    for node in ("pc1", "pc2", "gw", "web", "lan"):
        assert f'"{node}" [' in text
    assert '"gw" -- "web"' in text
    assert "10.0.0.0/24" in text and "203.0.113.1/30" in text


def test_mermaid(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    out = tmp_path / "natgw.mmd"
    assert netlab(monkeypatch, "graph", NATGW, "-o", str(out)).code == 0
    text = out.read_text()
    assert text.startswith("graph LR\n")
    assert "n_gw ---|" in text and "n_lan" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
@pytest.mark.parametrize("suffix,magic", [(".svg", b"<?xml"), (".png", b"\x89PNG")])
def test_svg_png(suffix: str, magic: bytes, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    out = tmp_path / f"natgw{suffix}"
    run = netlab(monkeypatch, "graph", NATGW, "-o", str(out))
    assert run.code == 0, run.stderr
    assert out.read_bytes().startswith(magic)


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_missing_graphviz(suffix: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing named `dot` here
    out = tmp_path / f"x{suffix}"
    run = netlab(monkeypatch, "graph", NATGW, "-o", str(out))
    assert run.code == 2
    assert "needs Graphviz's `dot`" in run.stderr and "apt-get install graphviz" in run.stderr
    assert "Traceback" not in run.stderr
    assert not out.exists()


def test_missing_graphviz_is_fine_for_text_formats(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert netlab(monkeypatch, "graph", NATGW, "-o", str(tmp_path / "x.dot")).code == 0


def test_unknown_suffix(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    run = netlab(monkeypatch, "graph", NATGW, "-o", str(tmp_path / "x.txt"))
    assert run.code == 2
    assert "use .dot, .mmd, .svg or .png" in run.stderr


def test_unwritable_output(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    run = netlab(monkeypatch, "graph", NATGW, "-o", str(tmp_path / "no" / "dir" / "x.dot"))
    assert run.code == 1
    assert run.stderr.startswith("error: cannot write ")
    assert "Traceback" not in run.stderr
