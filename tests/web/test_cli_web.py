"""`netlab web` as a person runs it: it prints where it listens, serves, stops cleanly on
SIGTERM; bad options are refused at once with a clear message."""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.support.cli import no_traceback, run, spawn

pytestmark = pytest.mark.root


def test_bad_lab_names_are_refused(run_dir: Path) -> None:
    for lab, says in (("Bad!", "--lab"), ("nosuchlab", "not deployed")):
        done = run("web", "--lab", lab, "--port", "0", timeout=60)
        assert done.returncode == 2, done.stderr
        assert says in done.stderr and no_traceback(done)


def test_a_port_in_use_is_said(run_dir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = run("web", "--port", str(port), timeout=60)
    assert done.returncode == 1 and no_traceback(done)
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr


def test_serves_until_sigterm(run_dir: Path) -> None:
    p = spawn("web", "--port", "0", "--read-only")
    try:
        assert p.stderr is not None
        first = p.stderr.readline()
        assert first.startswith("netlab web: http://127.0.0.1:"), first
        assert "(read-only)" in first and "no lab deployed yet" in first
        url = first.split()[2]
        with urllib.request.urlopen(url + "api/info", timeout=10) as r:
            assert json.load(r)["read_only"] is True
        with urllib.request.urlopen(url + "api/labs", timeout=10) as r:
            assert json.load(r) == {"labs": []}
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err
