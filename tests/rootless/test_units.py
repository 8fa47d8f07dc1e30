"""The rootless mode's parts, without test users: machine checks and their fixes, the
state directory and the holder's record, the CLI's choice of mode, the backend's
refusals."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import netlab.backends as backends
from netlab.backends.userns import checks, holder, join, state
from netlab.backends.userns.backend import UsernsBackend
from netlab.backends.userns.state import RootlessError
from netlab.errors import TopologyError
from netlab.linux import userns
from netlab.linux.userns import in_child_userns, root_is_host_root

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"


def _sysctl(tmp_path: Path, name: str, value: str) -> str:
    f = tmp_path / name
    f.write_text(value + "\n")
    return str(f)


def test_apparmor_restriction_is_detected_and_the_fix_is_exact(tmp_path, monkeypatch):
    monkeypatch.setattr(checks, "APPARMOR_SYSCTL", _sysctl(tmp_path, "aa", "1"))
    assert checks.apparmor_restricts()
    fix = checks.apparmor_fix()
    exe = str(Path(sys.executable).resolve())
    assert "kernel.apparmor_restrict_unprivileged_userns = 1" in fix
    assert f"profile netlab {exe} flags=(unconfined)" in fix and "userns," in fix
    assert "apparmor_parser -r /etc/apparmor.d/netlab" in fix
    assert "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in fix
    # The printf line, run by a shell, writes a profile apparmor_parser accepts: check
    # the text it makes (apparmor_parser itself is not installed here).
    line = next(x for x in fix.splitlines() if x.strip().startswith("printf"))
    cmd = line.strip().split(" > ")[0]
    text = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True).stdout
    assert text == (f"abi <abi/4.0>,\ninclude <tunables/global>\nprofile netlab {exe}"
                    " flags=(unconfined) {\n  userns,\n}\n")
    monkeypatch.setattr(checks, "APPARMOR_SYSCTL", _sysctl(tmp_path, "aa", "0"))
    assert not checks.apparmor_restricts()
    monkeypatch.setattr(checks, "APPARMOR_SYSCTL", str(tmp_path / "missing"))
    assert not checks.apparmor_restricts()


def test_a_machine_without_user_namespaces_is_refused_before_anything(tmp_path, monkeypatch):
    monkeypatch.setattr(checks, "MAX_USERNS_SYSCTL", _sysctl(tmp_path, "max", "0"))
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked"))
    with pytest.raises(RootlessError, match=r"user.max_user_namespaces=10000"):
        holder.start(tmp_path)
    monkeypatch.setattr(checks, "MAX_USERNS_SYSCTL", _sysctl(tmp_path, "max", "100"))
    monkeypatch.setattr(checks, "DEBIAN_SYSCTL", _sysctl(tmp_path, "deb", "0"))
    with pytest.raises(RootlessError, match=r"kernel.unprivileged_userns_clone=1"):
        holder.start(tmp_path)


def test_record_is_parsed_never_trusted(tmp_path):
    assert state.read_record(tmp_path) is None
    for bad in ("", "[]", "{", '{"pid": "12", "start": 1}', '{"pid": 1, "start": 5}',
                '{"pid": 12, "start": -1}', '{"pid": true, "start": 1}'):
        (tmp_path / state.RECORD_FILE).write_text(bad)
        assert state.read_record(tmp_path) is None, bad
    state.write_record(tmp_path, 1234, 99)
    assert state.read_record(tmp_path) == (1234, 99)
    assert stat.S_IMODE(os.stat(tmp_path / state.RECORD_FILE).st_mode) == 0o600
    os.symlink(tmp_path / state.RECORD_FILE, tmp_path / "link")
    (tmp_path / state.RECORD_FILE).rename(tmp_path / "real")
    os.symlink(tmp_path / "real", tmp_path / state.RECORD_FILE)
    assert state.read_record(tmp_path) is None  # never through a symlink


def test_start_time_names_live_processes_only():
    assert isinstance(state.start_time(os.getpid()), int)
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # ended, not reaped: a zombie
        assert state.start_time(pid) is None
    finally:
        os.waitpid(pid, 0)
    assert state.start_time(pid) is None


def test_state_dir_is_private_and_a_squatted_fallback_refused(tmp_path, monkeypatch):
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    d = state.state_dir()
    assert d == xdg / "netlab" and stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert (d / state.RUN_SUBDIR).is_dir()
    # A runtime directory others can enter is not used: the fallback in /tmp is, and one
    # there that is not the user's is refused with the fix.
    xdg.chmod(0o755)
    fake = 4000000 + os.getpid() % 100000
    squat = Path(f"/tmp/netlab-{fake}")
    squat.mkdir(mode=0o700)  # owned by root, not by the (pretend) user
    try:
        monkeypatch.setattr(os, "geteuid", lambda: fake)
        with pytest.raises(RootlessError, match=r"not a private directory of yours.*rm -r"):
            state.state_dir()
    finally:
        squat.rmdir()


def test_mode_and_verb_choice(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert join.wanted(["list"])
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert not join.wanted(["list"]) and join.wanted(["--rootless", "list"])
    assert join.verb_of(["--rootless", "deploy", "x.toml"]) == "deploy"
    # A verb that needs no machine: the rootless backend is chosen, nothing is joined.
    monkeypatch.setattr(join, "enter", lambda: pytest.fail("joined"))
    monkeypatch.setattr(backends, "DEFAULT", backends.DEFAULT)
    argv = ["netlab", "--rootless", "validate", "x.toml"]
    join.enter_from_cli(argv)
    assert argv == ["netlab", "validate", "x.toml"] and backends.DEFAULT == "userns"
    join.enter_from_cli(["netlab", "--rootless", "deploy", "--help"])  # help: no join
    assert "validate" not in join.MACHINE_VERBS and "deploy" in join.MACHINE_VERBS


def test_uplink_refused_by_preflight_and_deploy(tmp_path, monkeypatch):
    from netlab import api
    from netlab.backends.userns import uplink

    f = tmp_path / "up.toml"
    f.write_text((TOPOLOGIES / "two-hosts.toml").read_text() + '\n[uplink]\nnode = "h1"\n')
    monkeypatch.setattr(uplink, "helper", lambda: None)  # slirp4netns not installed
    with pytest.raises(TopologyError) as e:
        api.load(f, backend=UsernsBackend())
    text = e.value.render()
    assert "uplink: an uplink connects the lab to the host" in text
    assert "slirp4netns is not installed" in text and "apt-get install slirp4netns" in text
    assert "remove the [uplink] section" in text
    # Without the uplink: no problem from this backend.
    f.write_text((TOPOLOGIES / "two-hosts.toml").read_text())
    assert api.load(f, backend=UsernsBackend()).plan.uplink is None


def test_neighbour_limits_cannot_be_raised_and_a_big_burst_says_so(capsys):
    b = UsernsBackend()
    assert b.raise_neighbour_limits("x", 10, {"gc_thresh3": 4096}) == []
    assert capsys.readouterr().err == ""
    assert b.raise_neighbour_limits("x", 2000, {"gc_thresh3": 8192}) == []
    err = capsys.readouterr().err
    assert "sysctl -w net.ipv4.neigh.default.gc_thresh3=8192" in err


def test_in_child_userns(monkeypatch):
    assert not in_child_userns() and root_is_host_root()  # the tests run in the host's
    code = ("from netlab.linux.userns import in_child_userns as a, root_is_host_root as b;"
            " print(a(), b())")
    # root's own user namespace (as `netlab --rootless` run by root makes): root's files
    # are still root's, so a topology file is checked as for root
    r = subprocess.run(["unshare", "--user", "--map-root-user", sys.executable, "-c", code],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"no user namespace here: {r.stderr.strip()}")
    assert r.stdout.split() == ["True", "True"]
    # a user's namespace (uid 0 = uid 1001 outside): not the host's root
    monkeypatch.setattr(userns, "_uid_map", lambda: [(0, 1001, 1)])
    assert userns.in_child_userns() and not userns.root_is_host_root()


def test_ending_the_holder_removes_only_its_own_record(tmp_path, monkeypatch):
    """A command whose holder died while another one started a new holder must not
    remove the new one's record (that would orphan the new holder and its labs)."""
    run = tmp_path / state.RUN_SUBDIR
    run.mkdir()
    monkeypatch.setenv("NETLAB_RUN_DIR", str(run))
    lock = state.open_lock(tmp_path)
    for newer in (True, False):
        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            pidfd = os.pidfd_open(sleeper.pid)
            rec = (sleeper.pid, state.start_time(sleeper.pid) or 0)
            state.write_record(tmp_path, *((rec[0] + 1, rec[1]) if newer else rec))
            join._stop_if_idle(lock, tmp_path, pidfd, rec)
            assert sleeper.wait(timeout=5) == -9  # no lab left: the holder is ended
            assert (state.read_record(tmp_path) is not None) == newer
            os.close(pidfd)
        finally:
            sleeper.kill()
            sleeper.wait()
    os.close(lock)


def test_plan_shows_the_uplink_as_the_users_deploy_makes_it(monkeypatch, tmp_path):
    """`netlab plan` as a student (the rootless backend) shows slirp4netns's addresses,
    the ones deploy gives the uplink without root; as root, the host veth's."""
    from tests.support import topogen
    from tests.support.cli import netlab

    f = tmp_path / "up.toml"
    f.write_text(topogen.with_uplink((TOPOLOGIES / "natgw.toml").read_text()) or "")
    monkeypatch.setattr(backends, "DEFAULT", "kernel")
    root = netlab(monkeypatch, "plan", str(f))
    monkeypatch.setattr(backends, "DEFAULT", "userns")
    user = netlab(monkeypatch, "plan", str(f))
    as_json = netlab(monkeypatch, "plan", str(f), "--json")
    assert root.code == user.code == as_json.code == 0, user.output
    assert "uplink" in root.stdout and "10.0.2.100/24" not in root.stdout
    assert "10.0.2.100/24" in user.stdout and "via 10.0.2.2" in user.stdout, user.stdout
    assert '"node_address": "10.0.2.100/24"' in as_json.stdout.replace('":"', '": "')
