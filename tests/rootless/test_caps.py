"""A student's own caps (issue 16): a rootless deploy over the machine's cap on labs or
namespaces per user is refused before anything is built, naming the user and the cap."""

from __future__ import annotations

import sys

from tests.rootless.conftest import User, lab_name


def _netlab(u: User, env: str, *args: str):  # type: ignore[no-untyped-def]
    return u.cmd("env", env, sys.executable, "-m", "netlab", *args, timeout=120)


def test_caps_refuse_a_students_deploy_before_building(users: tuple[User, User],
                                                       labfile) -> None:  # type: ignore[no-untyped-def]
    a, _ = users
    first, second = lab_name(), lab_name()
    one, two = labfile("two-hosts", first), labfile("two-hosts", second)
    try:
        r = _netlab(a, "NETLAB_MAX_LABS_PER_USER=1", "deploy", str(one))
        assert r.returncode == 0, r.stdout + r.stderr
        r = _netlab(a, "NETLAB_MAX_LABS_PER_USER=1", "deploy", str(two))
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"{a.name} (uid {a.uid}) has 1 lab deployed; 1 more would make 2, over the" \
            " cap of 1 (set by NETLAB_MAX_LABS_PER_USER)" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        listed = a.run("list").stdout
        assert first in listed and second not in listed, listed
        # A redeploy replaces the lab: not a second one.
        r = _netlab(a, "NETLAB_MAX_LABS_PER_USER=1", "deploy", "--force", str(one))
        assert r.returncode == 0, r.stdout + r.stderr
        # Namespaces: two-hosts holds 2 (h1, h2); a cap of 3 leaves room for 1 more.
        r = _netlab(a, "NETLAB_MAX_NAMESPACES_PER_USER=3", "deploy", str(two))
        assert r.returncode == 2 and "labs hold 2 namespaces; this lab adds 2, over the" \
            " cap of 3" in r.stderr, r.stderr
        assert second not in a.run("list").stdout
    finally:
        a.run("destroy", first)
        a.run("destroy", second)
