"""Compile is pure: it never reads the running kernel (its config, /proc/config.gz);
the netem warning of `validate` comes from the kernel backend's check instead."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from netlab.api import load
from netlab.backends.kernel import shaping
from netlab.compile.compiler import compile_topology
from netlab.compile.linkprops import netem_paths
from netlab.linux import kconfig
from netlab.topology.loader import parse

LAB = """
[lab]
name = "tpure"
[nodes.a]
[nodes.b]
[nodes.c]
[[links]]
endpoints = ["a", "b"]
rate = "1mbit"
[[links]]
endpoints = ["a", "c"]
props = [{}, { jitter = "5ms", delay = "10ms" }]
"""


def _no_kernel(*_: object, **__: object) -> object:
    raise AssertionError("compile read the running kernel")


def test_compile_does_not_read_the_kernel_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kconfig, "config_option", _no_kernel)
    monkeypatch.setattr(kconfig, "_config", _no_kernel)
    monkeypatch.setattr(gzip, "open", _no_kernel)  # /proc/config.gz, whoever opens it
    compiled = compile_topology(parse(LAB, "t.toml"), "t.toml")
    assert compiled.plan.veths[1].b.shaping is not None  # the netem end is planned
    assert not [w for w in compiled.warnings if "netem" in w.message]
    assert netem_paths(compiled.model) == ["links[1].props[1].delay"]


def test_validate_still_warns_from_the_backend(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(kconfig, "config_option", lambda name: False)
    assert [w.path for w in shaping.netem_warnings(parse(LAB, "t.toml"))] == \
        ["links[1].props[1].delay"]
    (tmp_path / "t.toml").write_text(LAB)
    (w,) = load(tmp_path / "t.toml").warnings
    assert w.render("t.toml") == (
        "warning: t.toml: links[1].props[1].delay: delay and jitter need the kernel's netem"
        " qdisc (CONFIG_NET_SCH_NETEM); this machine's kernel lacks it, and deploy refuses"
        " the lab without it\n  fix: deploy on a kernel with netem, or drop delay/jitter"
        " (rate and loss work on every kernel)")
