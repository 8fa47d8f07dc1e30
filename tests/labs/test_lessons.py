"""Every lesson says what the lab shows: each shell command a lesson (docs/labs/NAME.md,
docs/tutorial.md) tells the student to run is run, as written, against a real lab, and
its stated outcome is checked. The format is in docs/labs/README.md ("Lesson commands").

How a lesson runs here, as close to a student's terminal as a test can be:
- each ```sh line (a trailing `\\` continues it) runs in bash, in a scratch directory
  where `topologies` is the bundled folder, with `sudo` and `netlab` first on PATH: `sudo`
  just runs the command (the test is root), `netlab` is a small wrapper that points the
  command at this test's renamed lab (tests/support/names.py: unique name and namespace
  prefix), because other labs of other test runs are deployed at the same time:
  a bundled lab's name -> the renamed copy, `--lab NAME` added to the verbs that act on
  a deployed lab, and `netlab labs LAB` names the renamed copy as the lab's file;
- `ip netns exec LAB-x` and `/run/netlab/LAB/` in a command name the renamed lab's;
- a `netlab capture` or `netlab web` line runs in the background, like the student's
  second terminal, once it says it is ready ("capturing on", "netlab web: http"), until
  the end of its block; then it gets Ctrl-C (SIGINT), unless it stopped by itself
  (`netlab web` listens on any free port: lessons run side by side);
- a trailing `# ... => OUTCOME` states the outcome: `exit N` and/or `"text"` (in the
  command's output; `N x "text"`: exactly N times), comma-separated; without one the
  command must exit 0.
Every lab the lesson deploys is destroyed at the end, even when a command failed.
Lessons run WORKERS at a time (each with its own lab names), so that all of them take
about as long as the slowest few.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from netlab.state.store import lab_dir
from netlab.topology import library
from tests.labs.labtools import DYNAMIC_LABS
from tests.support.names import renamed_copy, renamed_text, run_prefix, toml_dumps

pytestmark = pytest.mark.slow  # tests/support/plugin.py: handed out early

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "docs" / "tutorial.md"
PREFIX = run_prefix("t7")  # this run's: 6 characters, room for 6 of a lab's name
COMMAND_TIMEOUT = 30.0
CAPTURE_READY = 10.0  # seconds a background command may take to say it is ready

# Lines of a ```sh block that the test does not run: (lesson file name, the line's start)
# -> why. A lesson command not listed here runs, and must do what the lesson says.
SKIP: dict[tuple[str, str], str] = {
    ("tutorial.md", "sudo bash scripts/install.sh"):
        "installs system packages (apt); the test machine is already installed",
    ("tutorial.md", "sudo netlab shell h2"):
        "an interactive shell: the student types into it (exec is tested everywhere)",
}

# Edits the student makes by hand between commands ("correct lan3 to lan2", "write both
# fixes into mybroken.toml"), made by the test just before the command that starts with
# the given text: (lesson file name, command start) -> edit(scratch dir, lab names).
Edit = Callable[[Path, "Names"], None]


@dataclass
class Names:
    """The unique names this lesson's labs are deployed under."""
    labs: dict[str, tuple[Path, str]] = field(default_factory=dict)  # bundled -> copy, name
    mine: dict[str, str] = field(default_factory=dict)  # a student's own file -> name

    def all(self) -> list[str]:
        return [name for _, name in self.labs.values()] + list(self.mine.values())


def _write_mylab(work: Path, names: Names) -> None:
    """The tutorial's `mylab.toml`, as printed (mistakes included), renamed."""
    block = re.search(r"```toml\n(\[lab\]\nname = \"mylab\".*?)```", TUTORIAL.read_text(),
                      re.S)
    assert block, "docs/tutorial.md: the mylab.toml block is gone"
    names.mine["mylab.toml"] = name = PREFIX + "my"
    (work / "mylab.toml").write_text(renamed_text(block.group(1), name))


def _fix_mylab(work: Path, names: Names) -> None:
    path = work / "mylab.toml"
    text = path.read_text()
    assert text.count('"lan3"') == 2, "the tutorial says: correct lan3 to lan2 twice"
    path.write_text(text.replace('"lan3"', '"lan2"'))


def _fix_mybroken(work: Path, names: Names) -> None:
    """The two fixes of the broken exercise (what topologies/fixed.toml has)."""
    path = work / "mybroken.toml"
    doc = tomllib.loads(path.read_text())
    nodes = doc["nodes"]
    assert nodes["pc1"]["gateway"] == "10.1.0.254" and "routes" not in nodes["r2"], nodes
    nodes["pc1"]["gateway"] = "r1"
    nodes["r2"]["routes"] = [{"to": "10.1.0.0/24", "via": "10.255.0.1"}]
    path.write_text(toml_dumps(doc))


EDITS: dict[tuple[str, str], Edit] = {
    ("tutorial.md", "netlab validate mylab.toml"): _write_mylab,
    ("tutorial.md", "netlab plan mylab.toml"): _fix_mylab,
    ("tutorial.md", "netlab validate mybroken.toml"): _fix_mybroken,
    ("broken.md", "sudo netlab deploy --force mybroken.toml"): _fix_mybroken,
}


# ---- the lesson format -------------------------------------------------------------

@dataclass
class Command:
    text: str  # the shell command, without its comment
    line: int  # in the lesson file, for messages
    exit: int = 0
    output: Texts = field(default_factory=list)  # must appear in the output (N times)

    @property
    def ready(self) -> str | None:
        """What a background command prints once it is ready; None: not one."""
        for verb, says in (("capture", "capturing on"), ("web", "netlab web: http")):
            if re.search(rf"(^|\s)netlab {verb}(\s|$)", self.text):
                return says
        return None


def _split_comment(line: str) -> tuple[str, str]:
    """`cmd  # comment` -> (cmd, comment): the first # that starts a word outside quotes."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


_OUTCOME = re.compile(r'\s*(?:exit (\d+)|(?:(\d+) x )?"([^"]+)")\s*(?:,|$)')
Texts = list[tuple[str, int | None]]  # (text, exactly this many times, or None: at least once)


def parse_outcome(comment: str, where: str) -> tuple[int, Texts]:
    """`... => exit 1, "loss", 6 x "who-has"` -> (1, [("loss", None), ("who-has", 6)]);
    (0, []) without a marker."""
    if "=>" not in comment:
        return 0, []
    marker = comment.rsplit("=>", 1)[1].strip()
    code, texts, pos = 0, [], 0
    while pos < len(marker):
        m = _OUTCOME.match(marker, pos)
        assert m and m.end() > pos, f"{where}: bad outcome marker {marker!r} (see" \
            ' docs/labs/README.md: exit N, "text" or N x "text", comma-separated)'
        if m.group(1) is not None:
            code = int(m.group(1))
        else:
            texts.append((m.group(3), None if m.group(2) is None else int(m.group(2))))
        pos = m.end()
    return code, texts


def blocks(path: Path) -> Iterator[list[Command]]:
    """The ```sh blocks of a lesson, in order, each as its commands."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = re.fullmatch(r"(\s*)```sh\s*", lines[i])
        i += 1
        if not fence:
            continue
        indent, block, pending, start = fence.group(1), [], "", 0
        while i < len(lines) and lines[i].strip() != "```":
            raw = lines[i][len(indent):] if lines[i].startswith(indent) else lines[i]
            i += 1
            if not raw.strip():
                continue
            if not pending:
                start = i
            if raw.rstrip().endswith("\\"):
                pending += raw.rstrip()[:-1].strip() + " "
                continue
            text, comment = _split_comment(pending + raw.strip())
            pending = ""
            code, output = parse_outcome(comment, f"{path.name}:{start}")
            if text:
                block.append(Command(text, start, code, output))
        i += 1
        yield block


# ---- running a lesson ----------------------------------------------------------------

# `netlab` as the student types it, pointed at this test's labs (see the module doc).
WRAPPER = r'''#!@PYTHON@
import json, os, subprocess, sys, tomllib
from pathlib import Path

labs = json.loads(os.environ["LESSON_LABS"])   # bundled name -> [renamed copy, name]
state = Path(os.environ["LESSON_STATE"])        # {"current": name, "deployed": [...]}
now = json.loads(state.read_text()) if state.exists() else {"deployed": []}
args = sys.argv[1:]
verb = args[0] if args else ""
ON_A_LAB = {"exec", "shell", "ping", "trace", "probe", "pingall", "status", "capture",
            "link", "web"}
for i, a in enumerate(args[:-1]):  # `--lab failover`: the renamed copy
    if a in ("--lab", "-l") and args[i + 1] in labs:
        args[i + 1] = labs[args[i + 1]][1]
if verb == "web" and not {"--port", "-p"} & set(args):
    args += ["--port", "0"]  # other lessons, other runs: the default port may be taken
if verb in ("deploy", "check", "destroy", "validate", "plan", "graph"):
    args = [verb] + [labs[a][0] if a in labs else a for a in args[1:]]
if verb == "deploy":
    files = [a for a in args[1:] if not a.startswith("-")]
    if files and os.path.isfile(files[0]):  # remember it before it exists: cleanup
        name = tomllib.loads(Path(files[0]).read_text())["lab"]["name"]
        now["current"] = name
        now["deployed"] = now["deployed"] + [name]
        state.write_text(json.dumps(now))
elif verb in ON_A_LAB and now.get("current") and not {"--lab", "-l"} & set(args):
    args = [verb, "--lab", now["current"]] + args[1:]
cmd = [sys.executable, "-m", "netlab", *args]
if verb == "labs" and len(args) == 2 and args[1] in labs:
    run = subprocess.run(cmd, capture_output=True, text=True)
    real = str(Path(os.environ["LESSON_TOPOLOGIES"]) / (args[1] + ".toml"))
    sys.stdout.write(run.stdout.replace("# file: " + real, "# file: " + labs[args[1]][0]))
    sys.stderr.write(run.stderr)
    sys.exit(run.returncode)
os.execv(sys.executable, cmd)
'''


@dataclass
class Lesson:
    file: Path
    work: Path
    names: Names
    env: dict[str, str]
    state: Path
    log: list[str] = field(default_factory=list)

    def rewrite(self, text: str) -> str:
        """Namespace names and run-directory paths of a bundled lab -> the renamed lab's."""
        for lab, (_, name) in self.names.labs.items():
            text = re.sub(rf"(ip netns exec ){re.escape(lab)}-", rf"\g<1>{name}-", text)
            text = text.replace(f"/run/netlab/{lab}/", f"{lab_dir(name)}/")
        return text

    def edit_before(self, cmd: Command) -> None:
        for (doc, start), edit in EDITS.items():
            if doc == self.file.name and cmd.text.startswith(start):
                edit(self.work, self.names)

    def skipped(self, cmd: Command) -> bool:
        return any(doc == self.file.name and cmd.text.startswith(start)
                   for doc, start in SKIP)

    def popen(self, cmd: Command, out: Path) -> subprocess.Popen[bytes]:
        with out.open("wb") as sink:
            return subprocess.Popen(["bash", "-c", self.rewrite(cmd.text)], cwd=self.work,
                                    env=self.env, stdout=sink, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def run(self, cmd: Command) -> tuple[int, str]:
        out = self.work / ".out"
        proc = self.popen(cmd, out)
        try:
            code = proc.wait(COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = -1
        return code, out.read_text(errors="replace")

    def verdict(self, cmd: Command, code: int, output: str) -> str | None:
        missing = [f"{t!r}" + ("" if n is None else f" {n} times (seen {output.count(t)})")
                   for t, n in cmd.output
                   if (t not in output if n is None else output.count(t) != n)]
        if code == cmd.exit and not missing:
            return None
        return (f"{self.file.name}:{cmd.line}: `{cmd.text}`: exit {code} (lesson: "
                f"{cmd.exit})" + (f", output lacks {', '.join(missing)}" if missing else "")
                + "\n" + "\n".join("    | " + li for li in output.splitlines()[-25:]))

    def run_block(self, block: list[Command], failures: list[str]) -> None:
        captures: list[tuple[Command, subprocess.Popen[bytes], Path]] = []
        for cmd in block:
            if self.skipped(cmd):
                self.log.append(f"skip  {cmd.text}")
                continue
            self.edit_before(cmd)
            if (ready := cmd.ready) is not None:
                out = self.work / f".capture{len(captures)}"
                proc = self.popen(cmd, out)
                deadline = time.monotonic() + CAPTURE_READY
                while ready not in out.read_text(errors="replace"):
                    assert proc.poll() is None and time.monotonic() < deadline, (
                        f"{self.file.name}:{cmd.line}: `{cmd.text}` did not start:\n"
                        + out.read_text(errors="replace"))
                    time.sleep(0.05)
                captures.append((cmd, proc, out))
                continue
            began = time.monotonic()
            code, output = self.run(cmd)
            # `check` right after deploy: services started by `exec` may need a moment
            # (as in test_labs_deploy); a student who runs it again sees the same. Only
            # an unexpected failure is retried, twice.
            for _ in range(2):
                if not (re.search(r"netlab check\b", cmd.text) and code != cmd.exit):
                    break
                time.sleep(0.5)
                code, output = self.run(cmd)
            self.log.append(f"{time.monotonic() - began:5.2f}s exit {code}  {cmd.text}")
            if (problem := self.verdict(cmd, code, output)) is not None:
                failures.append(problem)
        for cmd, proc, out in captures:
            try:
                proc.wait(1.0)  # a capture with -c may have stopped by itself
                interrupted = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGINT)  # the student's Ctrl-C
                interrupted = True
                try:
                    proc.wait(5.0)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            code = proc.returncode
            if interrupted and code == 130:  # Ctrl-C is how a student ends a capture
                code = 0
            output = out.read_text(errors="replace")
            self.log.append(f"   bg exit {code}  {cmd.text}")
            if (problem := self.verdict(cmd, code, output)) is not None:
                failures.append(problem)

    def destroy_all(self) -> None:
        now = json.loads(self.state.read_text()) if self.state.exists() else {}
        for name in {*now.get("deployed", []), *self.names.all()}:
            subprocess.run([sys.executable, "-m", "netlab", "destroy", name],
                           env=self.env, capture_output=True, timeout=60)


def _lesson(file: Path, labs: list[str], tmp_path: Path) -> Lesson:
    work = tmp_path / "work"
    bindir = tmp_path / "bin"
    copies = tmp_path / "labs"
    for d in (work, bindir, copies):
        d.mkdir()
    (work / "topologies").symlink_to(REPO / "topologies")
    names = Names()
    for i, lab in enumerate(labs):  # unique per lesson too: lessons run side by side
        name = PREFIX + (lab.replace("-", "")[:6] if file.parent.name == "labs"
                         else f"{file.stem[:5]}{i}")
        names.labs[lab] = (renamed_copy(library.find(lab).path, name, copies), name)
    (bindir / "netlab").write_text(WRAPPER.replace("@PYTHON@", sys.executable))
    (bindir / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    for f in ("netlab", "sudo"):
        (bindir / f).chmod(0o755)
    state = tmp_path / "state.json"
    env = dict(os.environ, PATH=f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")])),
               LESSON_LABS=json.dumps({k: [str(p), n] for k, (p, n) in names.labs.items()}),
               LESSON_STATE=str(state), LESSON_TOPOLOGIES=str(library.find(labs[0]).path
                                                              .parent),
               COLUMNS="100", NO_COLOR="1")
    return Lesson(file, work, names, env, state)


LESSONS = [(lab.name, lab.lesson) for lab in library.bundled() if lab.lesson is not None]
DOCS = [*((lesson, [name]) for name, lesson in LESSONS), (TUTORIAL, ["two-hosts", "broken"])]


WORKERS = 5  # lessons run side by side: most of a lesson's time is pings waiting


@dataclass
class Outcome:
    failures: list[str]
    log: list[str]
    seconds: float
    leftovers: list[str]


def run_lesson(file: Path, labs: list[str], tmp: Path) -> Outcome:
    """Every command of one lesson, in order; every lab it deployed destroyed at the end."""
    lesson = _lesson(file, labs, tmp)
    failures: list[str] = []
    began = time.monotonic()
    try:
        for block in blocks(file):
            lesson.run_block(block, failures)
    except AssertionError as e:  # a capture that never started: the rest cannot run
        failures.append(str(e))
    finally:
        lesson.destroy_all()
    leftovers = [n for n in lesson.names.all() if lab_dir(n).exists()]
    return Outcome(failures, lesson.log, time.monotonic() - began, leftovers)


@pytest.fixture(scope="module")
def lesson_outcomes(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """The selected lessons (all, unless -k chose some), run WORKERS at a time."""
    from concurrent.futures import ThreadPoolExecutor

    chosen = {item.callspec.params["file"] for item in request.session.items
              if getattr(item, "originalname", "") == "test_lesson_does_what_it_says"
              and hasattr(item, "callspec")}
    began = time.monotonic()
    # The longest first: rip (~50 s: it waits for RIP's timers), the tutorial (two labs,
    # ~45 s), then the other routing labs; started last, as they were (DOCS order), they
    # ran alone at the end while the other workers sat idle.
    first = ["rip", TUTORIAL.stem, *DYNAMIC_LABS]
    order = sorted(DOCS, key=lambda doc: first.index(doc[0].stem)
                   if doc[0].stem in first else len(first))
    with ThreadPoolExecutor(WORKERS) as pool:
        running = {file.name: pool.submit(run_lesson, file, labs,
                                          tmp_path_factory.mktemp(file.stem))
                   for file, labs in order if file in chosen}
        outcomes = {name: future.result() for name, future in running.items()}
    print(f"\n{len(outcomes)} lessons in {time.monotonic() - began:.1f}s")
    return outcomes


@pytest.mark.root
@pytest.mark.parametrize(("file", "labs"), DOCS, ids=[f.stem for f, _ in DOCS])
def test_lesson_does_what_it_says(
    file: Path, labs: list[str], lesson_outcomes: dict[str, Outcome]
) -> None:
    outcome = lesson_outcomes[file.name]
    print(f"{file.name}: {outcome.seconds:.1f}s\n  " + "\n  ".join(outcome.log))
    assert not outcome.failures, "\n".join(outcome.failures)
    assert outcome.leftovers == [], f"labs left deployed: {outcome.leftovers}"


# ---- the format itself (no root) ------------------------------------------------------

def test_every_bundled_lab_has_a_lesson_whose_commands_the_test_runs() -> None:
    assert {name for name, _ in LESSONS} == {lab.name for lab in library.bundled()}
    for file, labs in DOCS:
        commands = [c for b in blocks(file) for c in b]
        main = {f"netlab deploy {labs[0]}", f"netlab check {labs[0]}", "netlab exec"}
        if file.name == "broken.md":  # the student works on a copy
            main = {"netlab deploy mybroken.toml", "netlab check mybroken.toml",
                    "netlab exec"}
        for verb in main:
            assert any(verb in c.text for c in commands), f"{file.name}: no `{verb}` to run"


def test_skip_and_edit_entries_all_match_a_lesson_command() -> None:
    texts = {(f.name, c.text) for f, _ in DOCS for b in blocks(f) for c in b}
    for doc, start in [*SKIP, *EDITS]:
        assert any(d == doc and t.startswith(start) for d, t in texts), (doc, start)


def test_outcome_markers_parse(tmp_path: Path) -> None:
    assert parse_outcome("no DF: it works", "x") == (0, [])
    assert parse_outcome('lost => exit 1, "100% packet loss"', "x") == (
        1, [("100% packet loss", None)])
    assert parse_outcome('=> "a", 6 x "b c", 0 x "d"', "x") == (
        0, [("a", None), ("b c", 6), ("d", 0)])
    with pytest.raises(AssertionError, match="bad outcome marker"):
        parse_outcome("=> fails", "x")
    doc = tmp_path / "l.md"
    doc.write_text('text\n```sh\nnetlab exec a -- ping -c1 b   # says "hi" => exit 1\n'
                   "   a \\\n   b  # c\n```\n"
                   "1. step\n   ```sh\n   echo '# not a comment' # => \"#\"\n   ```\n")
    got = [[(c.text, c.exit, c.output) for c in b] for b in blocks(doc)]
    assert got == [[("netlab exec a -- ping -c1 b", 1, []), ("a b", 0, [])],
                   [("echo '# not a comment'", 0, [("#", None)])]]


# ---- a teacher's own lab: `netlab labs FILE` -------------------------------------------

def test_labs_verb_prints_the_lesson_of_a_teachers_own_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from netlab.cli import app
    from netlab.cli.labs import NO_LESSON

    monkeypatch.chdir(tmp_path)
    lab = ('[lab]\nname = "ex1"\ndescription = "Fix the gateway"\nlesson = """\n'
           'pc1 cannot reach pc2. Run `netlab check ex1.toml` and find out why.\n"""\n'
           "[nodes.pc1]\n[nodes.pc2]\n[[links]]\nendpoints = [\"pc1\", \"pc2\"]\n")
    (tmp_path / "ex1.toml").write_text(lab)
    (tmp_path / "bare.toml").write_text(lab.split("lesson")[0] + "[nodes.a]\n")
    (tmp_path / "bad.toml").write_text("[lab\n")
    runner = CliRunner()
    for given in ("./ex1.toml", "ex1.toml", str(tmp_path / "ex1.toml")):
        result = runner.invoke(app, ["labs", given])
        assert result.exit_code == 0, result.output
        head = result.output.splitlines()[:2]
        assert head == ["# ex1: Fix the gateway", f"# file: {Path(given)}"], head
        assert "pc1 cannot reach pc2. Run `netlab check ex1.toml` and find out why." \
            in result.output
    result = runner.invoke(app, ["labs", "./bare.toml"])  # no lesson: say how to add one
    assert result.exit_code == 0 and NO_LESSON in result.output, result.output
    result = runner.invoke(app, ["labs", "./bad.toml"])  # not TOML: the loader's message
    assert result.exit_code == 2 and "bad.toml" in result.output, result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["labs", "./missing.toml"])
    assert result.exit_code == 2 and "no such topology file" in result.output
    result = runner.invoke(app, ["labs", "two-hosts"])  # a bundled name: its docs lesson
    assert result.exit_code == 0 and "## Questions" in result.output
