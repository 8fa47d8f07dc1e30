"""State is untrusted input (issue 10, items 1 and 7): lab names are checked at every entry
point before anything is read or removed; the run directory is used only when nobody but
root can change it; state directories are removed without following symlinks; every
journal line is checked when read, and a damaged one is reported and skipped (never a
crash, never blocking this lab's destroy or another lab's deploy); state is 0600/0700.

Kernel tests deploy into a private run directory (so other labs never matter) and use
unique lab names starting with "t5".
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netlab.cli import app
from netlab.errors import UsageError
from netlab.state import store
from tests.support import host
from tests.support.cli import no_traceback
from tests.support.cli import run as cli
from tests.support.names import run_prefix

pytestmark = pytest.mark.slow  # tests/support/plugin.py: handed out early

P = run_prefix("t5")  # this run's lab names: two runs at once never share one

TWO_NODES = 'lab.name = "{name}"\nnodes.a = {{}}\nnodes.b = {{}}\n' \
            'links = [{{endpoints = ["a", "b"]}}]\n'


def _name() -> str:
    return P + secrets.token_hex(3)


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private run directory (0700, owned by whoever runs the tests), in the env of this
    process and of the `netlab` commands started with `env()`."""
    d = tmp_path / "run"
    d.mkdir(mode=0o700)
    monkeypatch.setenv(store.RUN_DIR_ENV, str(d))
    yield d
    # A failed test may leave a lab's tmpfs mounted in here: unmount, so tmp can go.
    for m in reversed(host.mount_points()):
        if m.startswith(f"{d}/"):
            host.unmount_all(m)
    host.unmount_all(d)


def env(run: Path) -> dict[str, str]:
    return {**os.environ, store.RUN_DIR_ENV: str(run)}


def _snapshot(top: Path) -> list[str]:
    return sorted(str(p.relative_to(top)) for p in top.rglob("*"))


# --- lab names at every entry point --------------------------------------------------------


@pytest.fixture
def planted(tmp_path: Path, run: Path) -> Path:
    """A sentinel directory beside the run directory and a lab's state inside it: what
    `destroy ..` and `destroy .` used to delete."""
    (tmp_path / "sentinel").mkdir()
    (tmp_path / "sentinel" / "keep").write_text("x")
    (run / f"{P}keep").mkdir()
    (run / f"{P}keep" / "plan.json").write_text("{}")
    return tmp_path


BAD_NAMES = ["..", ".", "/x", "a/b", "abc\n", "a\0b", "../sentinel", f"{P}keep\n"]


@pytest.mark.root
@pytest.mark.parametrize("name", BAD_NAMES)
def test_destroy_refuses_bad_names_before_touching_anything(name: str, planted: Path) -> None:
    before = _snapshot(planted)
    # In-process: a NUL cannot be passed in a real command line.
    r = CliRunner().invoke(app, ["destroy", name])
    assert r.exit_code == 2, r.output
    # a name is refused as a name; a path (with '/') as a file that cannot be read
    assert "lab name" in r.output or "cannot read" in r.output, r.output
    assert _snapshot(planted) == before


@pytest.mark.root
def test_destroy_refuses_bad_names_in_the_real_command(planted: Path) -> None:
    before = _snapshot(planted)
    for name in ("..", ".", "abc\n", "a/b"):
        r = cli("destroy", name, env=env(planted / "run"))
        assert r.returncode == 2 and no_traceback(r), (name, r.stderr)
        assert r.stderr.startswith("error:"), r.stderr
    assert _snapshot(planted) == before


@pytest.mark.root
@pytest.mark.parametrize("verb", [
    "status --lab {}", "exec --lab {} a -- true", "shell a --lab {}", "ping a b --lab {}",
    "trace a b --lab {}", "probe a b --tcp 80 --lab {}", "pingall --lab {}", "check --lab {}",
    "link a b down --lab {}", "capture a:eth0 --lab {}"])
@pytest.mark.parametrize("name", ["..", "abc\n", "../sentinel"])
def test_every_verb_refuses_bad_lab_names(verb: str, name: str, planted: Path) -> None:
    before = _snapshot(planted)
    argv = [name if w == "{}" else w for w in verb.split()]
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 2, (argv, r.output)
    assert "lab name" in r.output, r.output
    assert _snapshot(planted) == before


@pytest.mark.root
@pytest.mark.parametrize("lab_name", ["{victim}", "../victim", "victim\\n", "..", "."])
def test_destroy_file_with_hostile_lab_name(lab_name: str, tmp_path: Path, run: Path) -> None:
    """`[lab] name = "/rtvictim"` in a file: `netlab destroy evil.toml` deleted /rtvictim."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("x")
    evil = tmp_path / "evil.toml"
    evil.write_text(f'[lab]\nname = "{lab_name.format(victim=victim)}"\n')
    r = cli("destroy", str(evil), env=env(run))
    assert r.returncode == 2 and no_traceback(r), r.stderr
    assert f"{evil}: lab.name" in r.stderr, r.stderr
    assert (victim / "precious").read_text() == "x"
    assert (run / "..").resolve() == tmp_path and _snapshot(run) == []


def test_api_refuses_bad_lab_names(run: Path) -> None:
    from netlab.lab import Lab

    (run / f"{P}keep").mkdir()
    for name in ("..", "a/b", "abc\n"):
        with pytest.raises(UsageError, match="lab name"):
            Lab.attach(name)
        for f in (store.lab_dir, store.read_plan, store.read_record, store.remove_lab_dir,
                  store.resolve_lab):
            with pytest.raises(UsageError, match="lab name"):
                f(name)
    assert (run / f"{P}keep").is_dir()


def test_state_names_that_are_not_lab_names_are_ignored(run: Path, tmp_path: Path) -> None:
    """Directory names read from the run directory are checked too: `destroy --all` and
    `list` see only valid names of real directories."""
    for odd in ("abc\n", "Upper", ".hidden"):
        (run / odd).mkdir()
        (run / odd / "plan.json").write_text("{}")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "created.jsonl").write_text("")
    (run / f"{P}link").symlink_to(tmp_path / "elsewhere")
    (run / f"{P}real").mkdir()
    (run / f"{P}real" / "created.jsonl").write_text("")
    assert store.deployed_labs() == [f"{P}real"]
    assert store.list_labs() == []


# --- the run directory must be root's ------------------------------------------------------


def _plant_lab(run_real: Path) -> Path:
    """A lab's state whose journal, if trusted, would make root remove the sentinel."""
    lab = run_real / f"{P}x"
    lab.mkdir(mode=0o700)
    (lab / "created.jsonl").write_text("")
    (lab / "sentinel").write_text("x")
    return lab / "sentinel"


def _untrusted(kind: str, tmp_path: Path) -> tuple[Path, Path]:
    """(NETLAB_RUN_DIR, the sentinel file in it) for each way a run dir can be unsafe."""
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    sentinel = _plant_lab(real)
    if kind == "symlink":
        link = tmp_path / "run"
        link.symlink_to(real)
        return link, sentinel
    if kind == "group-writable":
        real.chmod(0o770)
    elif kind == "world-writable-sticky":
        real.chmod(0o1777)
    elif kind == "other-owner":
        os.chown(real, 65534, 65534)
    elif kind == "other-owner-parent":
        home = tmp_path / "home"
        home.mkdir(mode=0o755)
        os.rename(real, home / "run")
        os.chown(home, 65534, 65534)
        return home / "run", home / "run" / f"{P}x" / "sentinel"
    return real, sentinel


KINDS = ["symlink", "group-writable", "world-writable-sticky", "other-owner",
         "other-owner-parent"]


@pytest.mark.root
@pytest.mark.parametrize("kind", KINDS)
def test_untrusted_run_dir_is_refused(kind: str, tmp_path: Path) -> None:
    run_dir, sentinel = _untrusted(kind, tmp_path)
    for argv in (["destroy", f"{P}x"], ["destroy", "--all"], ["list"],
                 ["status", "--lab", f"{P}x"]):
        r = cli(*argv, env=env(run_dir))
        assert r.returncode == 2 and no_traceback(r), (argv, r.stdout, r.stderr)
        assert f"unsafe run directory {run_dir}" in r.stderr, r.stderr
        assert "NETLAB_RUN_DIR" in r.stderr  # and how to fix it
        assert sentinel.read_text() == "x"


@pytest.mark.root
def test_deploy_into_an_untrusted_run_dir_is_refused(tmp_path: Path, labs) -> None:  # type: ignore[no-untyped-def]
    run_dir, _ = _untrusted("other-owner-parent", tmp_path)
    name = _name()
    file = labs.write(name, TWO_NODES.format(name=name))
    r = cli("deploy", str(file), env=env(run_dir))
    assert r.returncode == 2 and "unsafe run directory" in r.stderr, r.stderr
    assert host.settled_leftovers(name) == []


def test_symlinks_on_the_way_must_lead_somewhere_safe(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Like /var/run -> /run: a link on the way is fine when its target is safe."""
    (tmp_path / "real" / "run").mkdir(parents=True)
    (tmp_path / "real" / "run2").mkdir()
    (tmp_path / "via").symlink_to(tmp_path / "real")
    monkeypatch.setenv(store.RUN_DIR_ENV, str(tmp_path / "via" / "run"))
    assert store.run_dir() == tmp_path / "via" / "run"
    (tmp_path / "real").chmod(0o777)  # now anyone could swap run2 for a link
    monkeypatch.setenv(store.RUN_DIR_ENV, str(tmp_path / "via" / "run2"))
    with pytest.raises(store.StateError, match="can be written by others"):
        store.run_dir()


@pytest.mark.root
def test_someone_elses_symlink_in_a_sticky_dir_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    (tmp_path / "safe" / "run").mkdir(parents=True)
    (sticky / "link").symlink_to(tmp_path / "safe")
    os.lchown(sticky / "link", 65534, 65534)
    monkeypatch.setenv(store.RUN_DIR_ENV, str(sticky / "link" / "run"))
    with pytest.raises(store.StateError, match="symbolic link owned by"):
        store.run_dir()


def test_run_dir_is_read_at_each_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for sub in ("one", "two"):
        monkeypatch.setenv(store.RUN_DIR_ENV, str(tmp_path / sub))
        assert store.run_dir() == tmp_path / sub
    monkeypatch.setenv(store.RUN_DIR_ENV, "relative/run")
    with pytest.raises(store.StateError, match="absolute"):
        store.run_dir()


def test_run_dir_is_made_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "a" / "run"
    monkeypatch.setenv(store.RUN_DIR_ENV, str(d))
    old = os.umask(0o002)  # a umask that made it group-writable (mkdir's default 0777)
    try:
        with store.lab_lock(f"{P}mk"):
            assert _mode(d / f".{P}mk.lock") == 0o600
    finally:
        os.umask(old)
    assert d.is_dir() and not _mode(d) & 0o022 and not _mode(d.parent) & 0o022


# --- removing state directories -----------------------------------------------------------


def test_remove_lab_dir_never_follows_symlinks(run: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("x")
    (run / f"{P}ln").symlink_to(victim)  # the lab dir itself a link
    lab = run / f"{P}lab"
    lab.mkdir()
    (lab / "to-victim").symlink_to(victim)  # links inside it
    (lab / "sub").mkdir()
    (lab / "sub" / "to-file").symlink_to(victim / "precious")
    (lab / "sub" / "f").write_text("y")
    store.remove_lab_dir(f"{P}ln")
    store.remove_lab_dir(f"{P}lab")
    assert (victim / "precious").read_text() == "x"
    assert not os.path.lexists(lab)
    assert os.path.islink(run / f"{P}ln")  # not netlab's: left alone


def test_symlinked_lab_dir_is_not_read(run: Path, tmp_path: Path) -> None:
    """A symlinked lab directory made destroy read a journal from elsewhere (and set the
    host's ip_forward from it)."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "created.jsonl").write_text(json.dumps(
        {"kind": "hostsysctl", "key": "net.ipv4.ip_forward", "old": "1"}) + "\n")
    (run / f"{P}sym").symlink_to(other)
    assert f"{P}sym" not in store.deployed_labs()
    with pytest.raises(store.StateError, match="symbolic link"):
        store.read_record(f"{P}sym")


# --- the journal is checked line by line ---------------------------------------------------


def _good_entries(run: Path, lab: str) -> list[dict[str, object]]:
    d = run / lab
    return [
        {"kind": "placeholder", "path": f"/run/netns/{lab}-a"},
        {"kind": "foreign", "path": f"/run/netns/{lab}-b"},
        {"kind": "netns", "path": f"/run/netns/{lab}-a", "dev": 4, "ino": 4026532000},
        {"kind": "uts", "path": f"{d}/uts/a", "dev": 4, "ino": 4026532001},
        {"kind": "etc", "netns": f"{lab}-a", "link": f"{d}/etc/files-0123456789ab"},
        {"kind": "etc", "netns": f"{lab}-b"},
        {"kind": "hostlink", "ifname": f"nl-{lab}", "ifindex": None},
        {"kind": "hostlink", "ifname": f"nl-{lab}", "ifindex": 12},
        {"kind": "hostnft", "family": "ip", "table": f"netlab-{lab}"},
        {"kind": "hostsysctl", "key": "net.ipv4.ip_forward", "old": "0"},
        {"kind": "proc", "node": "a", "index": 0, "command": "sleep 9", "pid": 123,
         "start": 456, "log": f"{d}/logs/a.log"},
        {"kind": "future-kind", "anything": ["kept", "inert"]},
    ]


def _bad_lines(run: Path, lab: str, victim: Path) -> list[str]:
    d = run / lab
    return [
        "[1, 2]", '"text"', "42", "null", "{\"kind\": ", "[" * 100_000, "\udcff",
        json.dumps({"no": "kind"}), json.dumps({"kind": 7}),
        json.dumps({"kind": "netns", "path": "../../x", "dev": 1, "ino": 2}),
        json.dumps({"kind": "netns", "path": "/run/netns/../../x", "dev": 1, "ino": 2}),
        json.dumps({"kind": "netns", "path": f"/run/netns/{lab}-a", "dev": "1", "ino": 2}),
        json.dumps({"kind": "netns", "path": f"/run/netns/{lab}-a", "dev": True, "ino": 2}),
        json.dumps({"kind": "netns", "path": f"/run/netns/{lab}-a\n", "dev": 1, "ino": 2}),
        json.dumps({"kind": "netns", "path": f"/run/netns/{lab}-a"}),
        json.dumps({"kind": "placeholder", "path": str(victim / "empty")}),
        json.dumps({"kind": "uts", "path": f"{d}/../other/uts/a", "dev": 1, "ino": 2}),
        json.dumps({"kind": "uts", "path": "/etc/passwd", "dev": 1, "ino": 2}),
        json.dumps({"kind": "etc", "netns": f"../..{victim}"}),
        json.dumps({"kind": "etc", "netns": f"{lab}-a", "link": "/etc"}),
        json.dumps({"kind": "hostlink", "ifname": "lo", "ifindex": "1"}),
        json.dumps({"kind": "hostlink", "ifname": "eth0;x", "ifindex": 2}),
        json.dumps({"kind": "hostnft", "family": "ip", "table": "filter"}),
        json.dumps({"kind": "hostnft", "family": "bridge\n", "table": f"netlab-{lab}"}),
        json.dumps({"kind": "hostsysctl", "key": "kernel.core_pattern", "old": "|/x"}),
        json.dumps({"kind": "hostsysctl", "key": "net.ipv4.ip_forward", "old": "1\n2"}),
        json.dumps({"kind": "proc", "node": "a", "index": 0, "command": "x", "pid": -1,
                    "start": 1, "log": f"{d}/logs/a.log"}),
        json.dumps({"kind": "proc", "node": "a", "index": 0, "command": "x", "pid": 5,
                    "start": 1, "log": "/etc/shadow"}),
    ]


def test_journal_lines_are_checked_and_damaged_ones_skipped(run: Path, tmp_path: Path) -> None:
    lab = f"{P}jr"
    (run / lab).mkdir(mode=0o700)
    good = _good_entries(run, lab)
    bad = _bad_lines(run, lab, tmp_path)
    lines = [json.dumps(e) for e in good] + bad
    (run / lab / "created.jsonl").write_bytes(
        "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    rec = store.read_record(lab)
    assert [d.line for d in rec.damaged] == list(range(len(good) + 1, len(lines) + 1)), \
        "\n".join(map(str, rec.damaged))
    # Optional fields not written read back as null; everything else exactly as written.
    schema = store.JOURNAL_SCHEMA
    expect = [{"kind": e["kind"], **dict.fromkeys(schema.get(str(e["kind"]), ())), **e}
              for e in good]
    assert rec.entries == expect
    for d in rec.damaged:
        assert str(d).startswith(f"created.jsonl line {d.line}: ") and "skipped" in str(d)
    assert rec.of("netns") == [expect[2]]


def test_journal_written_by_record_reads_back(run: Path) -> None:
    lab = f"{P}rw"
    (run / lab).mkdir(mode=0o700)
    rec = store.Record(lab).open()
    for e in _good_entries(run, lab):
        rec.add(**e)
    rec.close()
    assert stat.S_IMODE((run / lab / "created.jsonl").stat().st_mode) == 0o600
    back = store.read_record(lab)
    assert back.damaged == [] and len(back.entries) == len(_good_entries(run, lab))


def test_damaged_plan_is_a_clear_error(run: Path) -> None:
    (run / f"{P}pl").mkdir(mode=0o700)
    for text in ("[1, 2]", "{", '{"format": 99}'):
        (run / f"{P}pl" / "plan.json").write_text(text)
        with pytest.raises(store.StateError, match="plan.json"):
            store.read_plan(f"{P}pl")
    (run / f"{P}pl" / "plan.json").unlink()
    os.mkfifo(run / f"{P}pl" / "plan.json")  # would block a plain read forever
    with pytest.raises(store.StateError, match="not a regular file"):
        store.read_plan(f"{P}pl")


# --- with the kernel -----------------------------------------------------------------------


@pytest.fixture
def host_veth() -> Iterator[str]:
    """A host interface that a journal's ifindex could point at."""
    name = f"{P}w" + secrets.token_hex(2)
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"],
                   check=True, capture_output=True)
    yield name
    subprocess.run(["ip", "link", "del", name], capture_output=True)


@pytest.mark.root
def test_damaged_journal_is_reported_skipped_and_blocks_nothing(
        labs, run: Path, tmp_path: Path, host_veth: str) -> None:  # type: ignore[no-untyped-def]
    a, b = _name(), _name()
    file_a = labs.write(a, TWO_NODES.format(name=a))
    file_b = labs.write(b, TWO_NODES.format(name=b))
    r = cli("deploy", str(file_a), env=env(run))
    assert r.returncode == 0, r.stderr
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "hosts").write_text("x")
    (victim / "empty").write_text("")
    index = Path(f"/sys/class/net/{host_veth}/ifindex").read_text().strip()
    bad = _bad_lines(run, a, victim) + [
        json.dumps({"kind": "hostlink", "ifname": host_veth, "ifindex": index})]
    journal = run / a / "created.jsonl"
    first_bad = len(journal.read_text().splitlines()) + 1
    with open(journal, "ab") as f:
        f.write("\n".join(bad).encode("utf-8", "surrogateescape") + b"\n")

    r = cli("deploy", str(file_b), env=env(run))  # another lab deploys
    assert r.returncode == 0 and no_traceback(r), r.stderr
    r = cli("status", "--lab", a, env=env(run))
    assert r.returncode == 0 and no_traceback(r), r.stdout + r.stderr
    r = cli("destroy", a, env=env(run))  # this lab is still destroyable
    assert r.returncode == 0 and no_traceback(r), r.stderr
    for k in range(len(bad)):
        assert f"created.jsonl line {first_bad + k}:" in r.stderr, r.stderr
    assert host.settled_leftovers(a) == []
    assert (victim / "hosts").read_text() == "x" and (victim / "empty").exists()
    assert host_veth in host.host_links()
    r = cli("destroy", b, env=env(run))
    assert r.returncode == 0, r.stderr
    assert host.settled_leftovers(b) == []


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


@pytest.mark.root
def test_state_is_private_after_a_real_deploy(labs, run: Path) -> None:  # type: ignore[no-untyped-def]
    name = _name()
    file = labs.write(name, TWO_NODES.format(name=name))
    r = cli("deploy", str(file), env=env(run))
    assert r.returncode == 0, r.stderr
    try:
        d = run / name
        modes = {p: _mode(d / p) for p in (".", "logs", "uts", "plan.json", "created.jsonl")}
        modes[f"../.{name}.lock"] = _mode(run / f".{name}.lock")
        assert modes == {".": 0o700, "logs": 0o700, "uts": 0o700, "plan.json": 0o600,
                         "created.jsonl": 0o600, f"../.{name}.lock": 0o600}
        assert not _mode(run) & 0o022
    finally:
        assert cli("destroy", name, env=env(run)).returncode == 0


@pytest.mark.root
def test_process_logs_are_private(labs, run: Path) -> None:  # type: ignore[no-untyped-def]
    """Logs of `exec` commands may hold what the lab's services print: 0600."""
    name = _name()
    text = TWO_NODES.format(name=name).replace("nodes.a = {}", 'nodes.a = {exec = ["true"]}')
    file = labs.write(name, text)
    r = cli("deploy", str(file), env=env(run))
    assert r.returncode == 0, r.stderr
    try:
        assert _mode(run / name / "logs" / "a.log") == 0o600
    finally:
        assert cli("destroy", name, env=env(run)).returncode == 0


@pytest.mark.root
def test_destroy_without_plan_and_journal_does_not_claim_success(labs, run: Path) -> None:  # type: ignore[no-untyped-def]
    """It said "destroyed" and left every namespace and /etc/netns entry."""
    name = _name()
    file = labs.write(name, TWO_NODES.format(name=name))
    assert cli("deploy", str(file), env=env(run)).returncode == 0
    (run / name / "plan.json").unlink()
    (run / name / "created.jsonl").unlink()
    r = cli("destroy", name, env=env(run))
    assert r.returncode == 0 and no_traceback(r), r.stderr
    left = host.settled_leftovers(name)
    if left:
        assert "destroyed" not in r.stdout, (r.stdout, left)


@pytest.mark.parametrize("field,value", [("lab", f"{P}other"), ("netns", "../../x"),
                                         ("name", "a/b"), ("netns", f"{P}pn-a\n")])
def test_plan_names_are_checked_when_read(field: str, value: str, run: Path,
                                          tmp_path: Path) -> None:
    from netlab.api import load

    (tmp_path / "t.toml").write_text(TWO_NODES.format(name=f"{P}pn"))
    raw = json.loads(load(tmp_path / "t.toml").plan.to_json())
    if field == "lab":
        raw["lab"] = value
    else:
        raw["nodes"][0][field] = value
    (run / f"{P}pn").mkdir(mode=0o700)
    (run / f"{P}pn" / "plan.json").write_text(json.dumps(raw))
    with pytest.raises(store.StateError, match="damaged"):
        store.read_plan(f"{P}pn")
