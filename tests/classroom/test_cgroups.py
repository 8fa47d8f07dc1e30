"""Per-copy CPU and memory limits: which cgroup layout applies (detected from the mount
table and this process's groups), the refusal where none does, and on this machine (a
v1/v2 hybrid) the copies' processes in groups with the limits set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netlab.classroom import cgroups, deploy, record
from netlab.errors import UsageError
from tests.classroom.conftest import Classes, cli
from tests.support import host


def _layout(tmp: Path, mounts: list[tuple[str, str, str]], own: str) -> tuple[Path, Path]:
    for path, _, _ in mounts:
        (tmp / path).mkdir(parents=True, exist_ok=True)
    m = tmp / "mounts"
    m.write_text("".join(f"cgroup {tmp / p} {kind} rw,{opts} 0 0\n" for p, kind, opts
                         in mounts))
    c = tmp / "cgroup"
    c.write_text(own)
    return m, c


def test_detects_the_hybrid_as_v1(tmp_path: Path) -> None:
    m, c = _layout(tmp_path, [("unified", "cgroup2", "nsdelegate"), ("memory", "cgroup",
                   "memory"), ("cpu", "cgroup", "cpu")], "4:memory:/box\n1:cpu:/\n0::/\n")
    (tmp_path / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    (tmp_path / "memory" / "box").mkdir()
    s = cgroups.detect(m, c)
    assert s.mode == "v1"
    assert s.bases == {"memory": tmp_path / "memory" / "box" / "netlab",
                       "cpu": tmp_path / "cpu" / "netlab"}
    assert "a v1/v2 hybrid" in s.why and "has no memory/cpu controller" in s.why


def test_detects_v2_with_controllers_at_its_root(tmp_path: Path) -> None:
    m, c = _layout(tmp_path, [("v2", "cgroup2", "nsdelegate")], "0::/\n")
    (tmp_path / "v2" / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    s = cgroups.detect(m, c)
    assert s.mode == "v2" and s.bases["memory"] == tmp_path / "v2" / "netlab"


def test_refuses_limits_where_no_layout_applies(tmp_path: Path) -> None:
    m, c = _layout(tmp_path, [("v2", "cgroup2", "nsdelegate")], "0::/user.slice/x\n")
    (tmp_path / "v2" / "cgroup.controllers").write_text("memory cpu\n")
    s = cgroups.detect(m, c)  # v2, but in a group with processes and no delegation
    assert s.mode == "none"
    with pytest.raises(UsageError, match="--memory/--cpus cannot be applied on this"
                       " machine: cgroup v2 without the memory and cpu controllers"):
        cgroups.require(cgroups.Limits(memory=64 << 20), s)
    assert cgroups.require(cgroups.Limits(), s) is s  # no limits asked: nothing to refuse


@pytest.mark.parametrize(("text", "value"), [("64M", 64 << 20), ("1G", 1 << 30),
                                             ("512MiB", 512 << 20), ("8388608", 8 << 20)])
def test_memory_sizes(text: str, value: int) -> None:
    assert cgroups.parse_memory(text) == value


@pytest.mark.parametrize("text", ["lots", "1M", "-5M", "1T"])
def test_bad_memory_sizes(text: str) -> None:
    with pytest.raises(UsageError):
        cgroups.parse_memory(text)


def test_bad_cpus() -> None:
    with pytest.raises(UsageError, match="between 0.01 and"):
        cgroups.parse_cpus("999")
    assert cgroups.parse_cpus("0.5") == 0.5


@pytest.mark.root
def test_refusal_builds_nothing(classes: Classes, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = classes.name()
    monkeypatch.setattr(cgroups, "detect", lambda: cgroups.Support("none", {}, "no luck"))
    with pytest.raises(UsageError, match="cannot be applied on this machine: no luck"):
        deploy.up("two-hosts", ["a", "b"], name=cls, limit=cgroups.Limits(cpus=0.5))
    assert not record.exists(cls)
    assert not any(n.startswith(cls) for n in host.netns_names())


LAB = """[lab]
name = "{name}"
[nodes.h1]
exec = ["sleep 600"]
[nodes.h2]
[[links]]
endpoints = ["h1", "h2"]
"""


@pytest.mark.root
@pytest.mark.skipif(cgroups.detect().mode == "none", reason="no usable cgroups here")
def test_limits_apply_to_each_copys_processes(classes: Classes, tmp_path: Path) -> None:
    cls = classes.name()
    f = tmp_path / "lab.toml"
    f.write_text(LAB.replace("{name}", cls))
    r = cli("class", "up", str(f), "--count", "2", "--memory", "64M", "--cpus", "0.5")
    assert r.returncode == 0, r.stderr
    assert "limits per copy: memory 64 MiB, cpu 0.5" in r.stdout
    rec = record.read(cls)
    support = cgroups.detect()
    for lab in rec.labs():
        groups = [Path(g) for g in rec.groups[lab]]
        assert len(groups) == (2 if support.mode == "v1" else 1)
        pids = [int(p) for g in groups for p in (g / "cgroup.procs").read_text().split()]
        assert len(set(pids)) == 1  # the copy's one `sleep`
        (pid,) = set(pids)
        assert "sleep" in Path(f"/proc/{pid}/cmdline").read_text()
        mine = Path(f"/proc/{pid}/cgroup").read_text()
        assert f"/netlab/{lab}\n" in mine
        if support.mode == "v1":
            mem = next(g for g in groups if "memory" in g.parts)
            cpu = next(g for g in groups if "cpu" in g.parts)
            assert (mem / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
            assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "50000"
        else:
            assert (groups[0] / "memory.max").read_text().strip() == str(64 << 20)
            assert (groups[0] / "cpu.max").read_text().split()[0] == "50000"
    assert cli("class", "down", cls).returncode == 0
    for lab in rec.labs():
        assert not any(os.path.exists(g) for g in rec.groups[lab])
