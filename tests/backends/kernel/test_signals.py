"""Signals at any moment: `kill` (SIGTERM) and a closed terminal (SIGHUP) sent to the real
`netlab deploy` / `netlab destroy` at random moments, from the first instant of start-up
on. Whatever the moment: no lock file and nothing of the lab is left (once a lab that did
get deployed is destroyed), no traceback, and the command either finished or said
"interrupted" (exit 130).

The one exception is a signal that lands while Python itself is still starting, before
netlab's code runs: the kernel's default action ends the process then, silently, having
done nothing. The test tells that moment apart by asking the kernel: /proc/PID/status
lists the signals a process catches (SigCgt), and it is read just before each signal is
sent; a process that caught the signal must not die of it.

NETLAB_SIG_SEED=<n> replays a run's random moments.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import topogen
from tests.support.cli import run as cli
from tests.support.cli import spawn
from tests.support.host import run_dir, settled_leftovers
from tests.support.names import run_prefix

pytestmark = pytest.mark.root

P = run_prefix("t5")  # this run's lab names: two runs at once never share one

SEED = int(os.environ.get("NETLAB_SIG_SEED", str(int(time.time()) % 100000)))
TWO_HOSTS = (topogen.TOPOLOGIES / "two-hosts.toml").read_text()
TRIES = 30
BUDGET = 20.0  # seconds of trying; a loaded machine gets through fewer tries, never fewer
MIN_TRIES = 10  # than this


def _catches(pid: int, signum: int) -> bool:
    """Whether process `pid` catches `signum` now (a handler installed), per the kernel."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except OSError:
        pass
    return False


def _lock_file(name: str) -> Path:
    return run_dir() / f".{name}.lock"


def _holds_lock(pid: int, path: Path) -> bool:
    """Whether process `pid` holds a flock on `path`, per /proc/locks."""
    try:
        ino = os.stat(path).st_ino
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    for line in lines:
        parts = line.split()  # 1: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[4] == str(pid) \
                and parts[5].rsplit(":", 1)[-1] == str(ino):
            return True
    return False


def _signal_at_random(p: subprocess.Popen[str], name: str, sig: int, mode: str,
                      rng: random.Random) -> bool:
    """Send `sig` to `p` at a random moment; True if `p` caught `sig` just before."""
    if mode == "start":  # anywhere in start-up: Python, imports, loading the topology
        time.sleep(rng.uniform(0.0, 0.5))
    else:  # "lock": the instant `p` holds the lab's lock, or a moment later
        deadline = time.monotonic() + 30
        while not _holds_lock(p.pid, _lock_file(name)) and p.poll() is None:
            assert time.monotonic() < deadline, "the lab's lock was never taken"
            time.sleep(0.0002)
        time.sleep(rng.choice([0.0, rng.uniform(0.0, 0.03)]))
    caught = _catches(p.pid, sig)
    if p.poll() is None:
        p.send_signal(sig)
    return caught


def _outcome(p: subprocess.Popen[str], done: str, caught: bool, sig: int, where: str) -> str:
    """finished, interrupted or killed-at-start-up; anything else fails the test."""
    out, err = p.communicate(timeout=60)
    rc = p.returncode
    assert "Traceback" not in out + err, f"{where}: {err}"
    if done in out:  # the work was done; the signal came during the last words or exit
        assert rc in (0, 130, -sig), f"{where}: rc {rc}: {err}"
        return "finished"
    if rc == 130:
        assert err.strip().endswith("interrupted"), f"{where}: {err}"
        return "interrupted"
    assert rc == -sig, f"{where}: rc {rc}: {out} {err}"
    # Killed by the signal: only possible before netlab caught it, having said nothing.
    assert not caught, f"{where}: died of a signal it was catching"
    assert out == err == "", f"{where}: killed after saying something: {out} {err}"
    return "killed at start-up"


def _no_lock_no_lab(name: str, where: str) -> None:
    assert settled_leftovers(name) == [], f"{where}: the lab was left half-built"
    assert not _lock_file(name).exists(), f"{where}: the lock file was left behind"


def test_signals_at_random_moments_leave_no_lock_and_say_interrupted(labs) -> None:  # type: ignore[no-untyped-def]
    name = f"{P}s" + secrets.token_hex(2)
    file = labs.write(name, topogen.renamed(TWO_HOSTS, name))
    rng = random.Random(SEED)
    seen: dict[tuple[str, str, str], int] = {}
    end = time.monotonic() + BUDGET
    tries = 0
    while tries < TRIES and (tries < MIN_TRIES or time.monotonic() < end):
        tries += 1
        verb = rng.choice(["deploy", "deploy", "destroy"])
        mode = rng.choice(["start", "lock"])
        sig = rng.choice([signal.SIGTERM, signal.SIGTERM, signal.SIGHUP])
        where = (f"try {tries}: {sig.name} to {verb} at {mode} "
                 f"(NETLAB_SIG_SEED={SEED})")
        if verb == "destroy":
            r = cli("deploy", str(file))
            assert r.returncode == 0, r.stderr
        p = spawn(verb, str(file) if verb == "deploy" else name)
        caught = _signal_at_random(p, name, sig, mode, rng)
        outcome = _outcome(p, f"{verb}ed lab {name}", caught, sig, where)
        seen[(verb, mode, outcome)] = seen.get((verb, mode, outcome), 0) + 1
        if mode == "lock":
            # The lock is taken long after the handlers are installed.
            assert outcome != "killed at start-up", where
        # Whatever is deployed now (a finished deploy, an interrupted destroy) is
        # destroyed normally; then neither the lab nor its lock file may be left.
        if (run_dir() / name).exists():
            r = cli("destroy", name)
            assert r.returncode == 0 and "Traceback" not in r.stderr, f"{where}: {r.stderr}"
        _no_lock_no_lab(name, where)
    interrupted = sum(n for (_, _, outcome), n in seen.items() if outcome == "interrupted")
    # The test means something only if many signals did interrupt netlab's work.
    assert interrupted >= tries // 3, f"{tries} tries (NETLAB_SIG_SEED={SEED}): {seen}"
