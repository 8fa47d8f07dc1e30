"""Inputs netlab must not trust (issue 10): which file a typed name means, what a topology
path may be (regular, small, and, as root, nobody else's), and how deep a file may nest.

Each refusal is exit 2 with the file named, the reason and a fix, as a golden file
(tests/golden/invalid/input-*.txt; temporary paths shown as TMP).
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from netlab.errors import NetlabError, TopologyError, UsageError
from netlab.topology import library, loader
from tests.support.cli import netlab
from tests.support.golden import GOLDEN, check
from tests.support.names import run_prefix

NATGW = library.find("natgw").path
OTHER = 4242  # a uid (and gid) with no user: "someone else"
as_root = pytest.mark.root  # chown, root's checks; skipped without root (tests/support/plugin.py)


def evil(name: str = "evil", proof: str = "/nonexistent/owned") -> str:
    """A valid topology whose exec would run as root: the file an attacker leaves around."""
    return (f'[lab]\nname = "{name}"\n[nodes.a]\nexec = ["touch {proof}"]\n'
            '[nodes.b]\n[[links]]\nendpoints = ["a", "b"]\n')


def run(monkeypatch: pytest.MonkeyPatch, cwd: Path, *args: str) -> tuple[int, str, str]:
    """`netlab ARGS` in-process, from `cwd`; temporary paths in the output become TMP."""
    r = netlab(monkeypatch, *args, cwd=cwd)
    return r.code, r.stdout, r.stderr.replace(str(cwd.resolve()), "TMP")


def refused(monkeypatch: pytest.MonkeyPatch, cwd: Path, golden: str, *args: str) -> str:
    code, out, err = run(monkeypatch, cwd, *args)
    assert (code, out) == (2, ""), err
    assert "Traceback" not in err
    check(GOLDEN / "invalid" / f"input-{golden}.txt", err)
    return err


# --- bundled names are bundled ------------------------------------------------------------


def test_a_name_is_the_bundled_lab_even_with_a_file_of_that_name_here(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "natgw").write_text(evil())
    monkeypatch.chdir(tmp_path)
    assert library.resolve("natgw") == NATGW


def test_a_file_is_used_when_written_as_a_path(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "natgw").write_text(evil())
    (tmp_path / "natgw.toml").write_text(evil())
    monkeypatch.chdir(tmp_path)
    assert library.resolve("./natgw").resolve() == tmp_path / "natgw"
    assert library.resolve("natgw.toml").resolve() == tmp_path / "natgw.toml"
    assert library.resolve(Path("natgw")) == Path("natgw")  # a Path object is a path
    with pytest.raises(UsageError, match="no such topology file"):
        library.resolve("./missing")


def test_a_file_that_is_no_bundled_lab_is_not_used_but_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mylab").write_text(evil())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"no bundled lab named 'mylab'.*give it as a path:"
                                         r" \./mylab"):
        library.resolve("mylab")


@as_root
@pytest.mark.parametrize(("typed", "lab"), [("natgw", "natgw"), ("./natgw", "evil")])
def test_deploy_takes_the_bundled_lab_unless_given_a_path(
        typed: str, lab: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sudo netlab deploy natgw` in a directory where someone left a file `natgw`."""
    from netlab.backends.kernel import apply

    (tmp_path / "natgw").write_text(evil())
    built = []

    def record(plan, force=False):  # type: ignore[no-untyped-def]
        built.append(plan.lab)
        raise NetlabError("stop here (test)")

    monkeypatch.setattr(apply, "deploy", record)
    code, _, err = run(monkeypatch, tmp_path, "deploy", typed)
    assert (code, built) == (1, [lab]), err


@as_root
@pytest.mark.parametrize(("typed", "lab"), [("natgw", "natgw"), ("./natgw", "evil")])
def test_check_takes_the_bundled_lab_unless_given_a_path(
        typed: str, lab: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from netlab import backends

    (tmp_path / "natgw").write_text(evil())
    asked = []

    def resolve(name: str):  # type: ignore[no-untyped-def]
        asked.append(name)
        raise NetlabError("stop here (test)")

    monkeypatch.setattr(backends.get(), "resolve", resolve)  # the lab check acts on
    code, _, err = run(monkeypatch, tmp_path, "check", typed)
    assert (code, asked) == (1, [lab]), err


# --- topology paths: regular files, small -------------------------------------------------


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    os.mkfifo(tmp_path / "lab.toml")
    refused(monkeypatch, tmp_path, "fifo", "validate", "lab.toml")


def test_a_device_is_refused_not_read_forever(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    refused(monkeypatch, tmp_path, "device", "validate", "/dev/zero")
    (tmp_path / "lab.toml").symlink_to("/dev/zero")  # not through a link either
    _, _, err = run(monkeypatch, tmp_path, "plan", "lab.toml")
    assert "it is a character device, not a regular file" in err


def test_a_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refused(monkeypatch, tmp_path, "directory", "validate", ".")


def test_a_huge_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lab.toml").write_text("#" * loader.MAX_BYTES + "\n")
    refused(monkeypatch, tmp_path, "too-large", "validate", "lab.toml")
    (tmp_path / "ok.toml").write_text(evil() + "#" * (loader.MAX_BYTES - 200) + "\n")
    assert run(monkeypatch, tmp_path, "validate", "ok.toml")[0] == 0  # up to the limit


def test_a_file_that_grows_while_read_is_cut_at_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The size is checked on what was read too, not only on what fstat said."""
    path = tmp_path / "lab.toml"
    real_fstat = os.fstat

    def small(fd: int) -> os.stat_result:  # the file looked small when opened
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, *st[1:6], 10, *st[7:10]))

    path.write_text("#" * (2 * loader.MAX_BYTES))
    monkeypatch.setattr(os, "fstat", small)
    with pytest.raises(TopologyError, match="larger than 1 MiB"):
        loader.read_text(path)


# --- nesting --------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [101, 600, 10000])
@pytest.mark.parametrize("shape", ["array", "table", "dotted"])
def test_deep_nesting_is_a_problem_not_a_traceback(shape: str, levels: int) -> None:
    text = '[lab]\nname = "deep"\n' + {
        "array": "x = " + "[" * levels + "]" * levels,
        "table": "x = " + "{a = " * levels + "1" + "}" * levels,
        "dotted": "[" + ".".join(["a"] * levels) + "]",
    }[shape] + "\n"
    with pytest.raises(TopologyError) as info:
        loader.parse(text, "deep.toml")
    (p,) = info.value.problems
    assert p.message.startswith("nested more than 100 levels deep"), p
    assert p.path == ("a.a.a" if shape == "dotted" else "")
    assert shape == "dotted" or "at line 3" in p.message


def test_nesting_up_to_the_limit_is_fine() -> None:
    ok = "x = " + "[" * 100 + "]" * 100  # then rejected as an unknown key, as usual
    assert loader._too_deep(ok) is None and loader._too_deep("y = [" + ok[4:] + "]") == 1
    assert loader._deepest({"a": [[{"b": 1}]]}) is None


def test_brackets_in_strings_and_comments_do_not_count() -> None:
    for text in ('a = "' + "[" * 200 + '"', "a = '" + "{" * 200 + "'",
                 'a = """\n' + "[" * 200 + '\n"""', "a = '''" + "[" * 200 + "'''",
                 "# " + "[" * 200, 'a = "\\"' + "[" * 200 + '"'):
        assert loader._too_deep(text) is None, text


def test_recursion_is_caught_as_a_last_resort(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_DEPTH", 10**6)  # as if the checks missed a case
    model, problems = loader.parse_lenient("x = " + "[" * 10000 + "]" * 10000, "deep.toml")
    assert model is None
    assert [p.message for p in problems] == [
        "nested too deeply to read (tables and arrays inside each other)"]


def test_deep_nesting_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lab.toml").write_text("x = " + "{a = " * 10000 + "1" + "}" * 10000)
    code, _, err = run(monkeypatch, tmp_path, "validate", "lab.toml")
    assert code == 2 and "Traceback" not in err
    assert err.startswith("error: lab.toml: nested more than 100 levels deep at line 1")


# --- as root: nobody else's file -------------------------------------------------------------


@pytest.fixture
def other() -> int:
    try:
        pwd.getpwuid(OTHER)
    except KeyError:
        return OTHER
    pytest.skip(f"uid {OTHER} exists here; the golden files name it as a bare uid")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # As root, run directly (not under sudo): only root's files are trusted.
    monkeypatch.delenv("SUDO_UID", raising=False)
    monkeypatch.delenv("SUDO_GID", raising=False)


@as_root
def test_root_refuses_a_file_of_another_user(tmp_path: Path, other: int, clean_env: None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lab.toml").write_text(evil())
    os.chown(tmp_path / "lab.toml", other, other)
    refused(monkeypatch, tmp_path, "not-owner", "validate", "lab.toml")
    # ... unless that user ran netlab through sudo: then it is the user's own file.
    monkeypatch.setenv("SUDO_UID", str(other))
    monkeypatch.setenv("SUDO_GID", str(other))
    assert run(monkeypatch, tmp_path, "validate", "lab.toml")[0] == 0


@as_root
def test_root_refuses_a_file_others_can_write(tmp_path: Path, other: int, clean_env: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(evil())
    path.chmod(0o666)
    refused(monkeypatch, tmp_path, "writable-file", "validate", "lab.toml")
    path.chmod(0o664)  # group-writable: fine for root's group, not for another's
    assert run(monkeypatch, tmp_path, "validate", "lab.toml")[0] == 0
    os.chown(path, 0, other)
    assert run(monkeypatch, tmp_path, "validate", "lab.toml")[0] == 2


@as_root
def test_root_refuses_a_file_in_a_directory_others_can_write(
        tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "lab.toml").write_text(evil())
    shared.chmod(0o777)
    refused(monkeypatch, tmp_path, "writable-dir", "validate", "shared/lab.toml")
    shared.chmod(0o1777)  # /tmp's sticky bit: others cannot replace root's file
    assert run(monkeypatch, tmp_path, "validate", "shared/lab.toml")[0] == 0


@as_root
def test_root_refuses_a_file_in_another_users_directory(
        tmp_path: Path, other: int, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    theirs = tmp_path / "theirs"
    (theirs / "sub").mkdir(parents=True)
    (theirs / "sub" / "lab.toml").write_text(evil())
    os.chown(theirs, other, other)  # two levels up: they can rename sub and swap it
    refused(monkeypatch, tmp_path, "dir-owner", "validate", "theirs/sub/lab.toml")
    # A link in their directory to a good file is theirs to re-point: refused too.
    (tmp_path / "good.toml").write_text(evil())
    (theirs / "link.toml").symlink_to(tmp_path / "good.toml")
    code, _, err = run(monkeypatch, tmp_path, "validate", "theirs/link.toml")
    assert code == 2 and "the directory TMP/theirs is owned by uid 4242" in err
    assert run(monkeypatch, tmp_path, "validate", "good.toml")[0] == 0


@as_root
@pytest.mark.parametrize("verb", ["validate", "plan", "deploy", "check", "destroy"])
def test_every_verb_that_reads_a_file_refuses_it_alike(
        verb: str, tmp_path: Path, other: int, clean_env: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    proof = tmp_path / "owned"
    lab = run_prefix("t5") + "e" + verb[:3]  # this run's: a deploy gone ahead meets nobody
    (tmp_path / "lab.toml").write_text(evil(lab, str(proof)))
    os.chown(tmp_path / "lab.toml", other, other)
    try:
        code, out, err = run(monkeypatch, tmp_path, verb, "lab.toml")
    finally:  # (had the deploy gone ahead)
        if verb == "deploy":
            run(monkeypatch, tmp_path, "destroy", lab)
    assert code == 2, (out, err)
    assert err == (GOLDEN / "invalid" / "input-not-owner.txt").read_text()
    assert not proof.exists()


@as_root
def test_destroy_reads_a_file_through_the_loader(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    os.mkfifo(tmp_path / "lab.toml")
    code, _, err = run(monkeypatch, tmp_path, "destroy", "lab.toml")
    assert code == 2
    assert err == (GOLDEN / "invalid" / "input-fifo.txt").read_text()


def test_the_checks_cost_little(tmp_path: Path) -> None:
    """Every verb reads topologies through here; the checks are a few system calls."""
    import time

    path = tmp_path / "lab.toml"
    path.write_text(NATGW.read_text())
    t0 = time.perf_counter()
    for _ in range(100):
        loader.read_text(path)
    assert time.perf_counter() - t0 < 1.0
