"""Verbs run before typer is imported: `netlab check` (issue 13: the whole check of a small
lab under 0.3 s, of which typer and its pydantic adapters alone took ~0.3 s of start-up).

`run(argv)` handles only command lines it fully understands, in the grammar typer gives
the verb: the known options, each at most once, with its value as the next word, and at
most one argument. Anything else (--help, an unknown or repeated option, `--lab=X`,
`--`, a value that looks like an option, a second argument...) returns None, and typer
runs the command as always, with its own help and its own error messages. What it runs
is the typer verb's own body (netlab/cli/checkrun.py) with the same error reporting
(netlab/cli/plain.py): the same output and exit codes (tests/cli/test_fast*.py compare
them). NETLAB_NO_FAST=1 turns it off (those tests, scripts/bench_check.py's baseline).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

NO_FAST_ENV = "NETLAB_NO_FAST"

# check's options (netlab/cli/probes.py: check): option -> (parameter, takes a value)
_CHECK = {
    "--lab": ("lab", True), "-l": ("lab", True), "--json": ("as_json", False),
    "--junit": ("junit", True), "--csv": ("csv", True), "--gradescope": ("gradescope", True),
}


def run(argv: list[str]) -> int | None:
    """The exit code of the command line `argv` (without the program's name), run
    without typer; None: typer must run it."""
    if not argv or argv[0] != "check" or os.environ.get(NO_FAST_ENV):
        return None
    parsed = _parse(argv[1:], _CHECK)
    if parsed is None or len(parsed[0]) > 1:
        return None
    args, opts = parsed
    return _check(args[0] if args else None, opts)


def _parse(words: list[str], options: dict[str, tuple[str, bool]]
           ) -> tuple[list[str], dict[str, str | bool]] | None:
    args: list[str] = []
    opts: dict[str, str | bool] = {}
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-"):
            args.append(word)
            continue
        if word not in options:
            return None
        name, takes_value = options[word]
        if name in opts:  # typer takes the last; not worth copying
            return None
        if not takes_value:
            opts[name] = True
            continue
        if i == len(words) or not words[i] or words[i].startswith("-"):
            return None
        opts[name] = words[i]
        i += 1
    return args, opts


def _check(target: str | None, opts: dict[str, str | bool]) -> int:
    """The typer verb `check` (netlab/cli/probes.py), with plans read without pydantic
    when the target is a deployed lab (netlab/state/plans.py: read_only)."""
    from netlab.cli.checkrun import run_check
    from netlab.cli.plain import said
    from netlab.errors import NetlabError, require_root

    lab = opts.get("lab")
    assert lab is None or isinstance(lab, str)

    def path(name: str) -> Path | None:
        value = opts.get(name)
        return Path(value) if isinstance(value, str) else None

    try:
        require_root("check")
        with _plans_read_only(target, lab):
            report = run_check(target, lab, as_json=bool(opts.get("as_json")),
                               junit=path("junit"), csv=path("csv"),
                               gradescope=path("gradescope"))
    except (NetlabError, KeyboardInterrupt) as e:
        return said(e)
    return 0 if report.ok else 1


def _plans_read_only(target: str | None, lab: str | None
                     ) -> contextlib.AbstractContextManager[None]:
    """Read plans as cached records when the target is a deployed lab (the probes only
    read its plan); a topology file is compiled and compared with pydantic's plans."""
    from netlab import api, backends
    from netlab.errors import NetlabError
    from netlab.state.plans import read_only

    try:
        b = backends.get()
        if target is None or api._deployed_name(target, lab, b) is not None:
            return read_only()
        from netlab.topology.library import resolve

        # The file the lab was deployed from, unchanged: its saved plan is checked.
        with read_only():
            if api._deployed_from(resolve(target), lab, b) is not None:
                return read_only()
    except (NetlabError, OSError):  # said by check itself, in its own order
        pass
    return contextlib.nullcontext()
