"""The `netlab` command. Each verb group lives in its own module and registers itself.

Start-up must stay fast: no module imported here may import scapy or pyroute2 at the top
level; verbs import what they need when they run.

Signals: `main` first makes SIGTERM and SIGHUP behave like Ctrl-C (KeyboardInterrupt), so
that a `kill` at any moment runs the same clean-up (rollback, lock release) and ends the
same way: "interrupted" on stderr, exit 130. Nothing is imported before that but `signal`;
the verbs (typer, pydantic, ...) are imported after, inside the code that handles the
interruption. A signal that arrives while Python itself is still starting, before `main`,
ends the process as the kernel's default does; netlab has done nothing by then.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

INTERRUPTED = 130  # the shell's code for "ended by Ctrl-C", for every interruption

_interrupting = False  # a KeyboardInterrupt was raised for a signal
_decided = False  # main knows how the command ends: later signals change nothing


def _on_sigterm(signum: int, frame: object) -> None:
    # Once only: a second `kill` while the first one's clean-up runs (rollback, lock
    # release) must not cut that clean-up short. SIGKILL remains for the impatient.
    global _interrupting
    if _interrupting or _decided:
        return
    _interrupting = True
    raise KeyboardInterrupt


def _as_sigterm(signum: int, frame: object) -> None:
    # A closed terminal (SIGHUP) ends netlab as `kill` does, through whatever handles
    # SIGTERM at this moment (deploy holds SIGTERM back to a safe point; capture stops
    # cleanly); so does an interrupt delivered again (SIGALRM, from _on_unraisable).
    handler = signal.getsignal(signal.SIGTERM)
    if callable(handler):
        handler(signal.SIGTERM, frame)
    elif handler != signal.SIG_IGN:
        _on_sigterm(signal.SIGTERM, frame)


def _on_unraisable(info: Any) -> None:
    # Python drops an exception raised in a finalizer or a weakref callback (the import
    # system has some): an interrupt handled there would be lost, and printed as a
    # traceback. Deliver it again a moment later, in ordinary code.
    global _interrupting
    if isinstance(info.exc_value, KeyboardInterrupt):
        if _decided:
            return
        _interrupting = False
        signal.setitimer(signal.ITIMER_REAL, 0.001)
        return
    sys.__unraisablehook__(info)


def catch_signals() -> None:
    """SIGTERM and SIGHUP raise KeyboardInterrupt, like Ctrl-C (signals the caller chose to
    ignore, e.g. SIGHUP under nohup, stay ignored)."""
    for signum, handler in ((signal.SIGTERM, _on_sigterm), (signal.SIGHUP, _as_sigterm)):
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, handler)
    signal.signal(signal.SIGALRM, _as_sigterm)
    sys.unraisablehook = _on_unraisable


def _build() -> typer.Typer:
    import typer

    from netlab.cli import classroom, exporter, importer, labs, links, probes, topo, web
    from netlab.cli import lab as lab_verbs

    app = typer.Typer(
        name="netlab",
        help="Network labs in Linux namespaces, from a small TOML file, proved with real"
             " packets.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for module in (topo, lab_verbs, probes, links, labs, importer, exporter, web, classroom):
        module.register(app)
    return app


def _app() -> typer.Typer:
    if "app" not in globals():
        globals()["app"] = _build()
    return globals()["app"]  # type: ignore[no-any-return]


def __getattr__(name: str) -> Any:
    # `from netlab.cli import app` (tests, scripts): built on first use, so that `main`
    # can catch signals before the verbs' imports.
    if name == "app":
        return _app()
    raise AttributeError(name)


def _output_failed(e: OSError) -> int:
    """A write to stdout or stderr failed (a full disk, `> /dev/full`, a closed pipe): say
    so in one line, exit 1; a closed pipe (`netlab plan x.toml | head`) ends quietly, as
    other Unix tools do. Any other OSError is a bug and keeps its traceback."""
    import errno

    output_errors = (errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)
    if e.filename is not None or e.errno not in output_errors:
        raise e
    # What is still buffered cannot be written either: point stdout at /dev/null, so that
    # Python's own flush at exit does not fail again with "Exception ignored".
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    if e.errno != errno.EPIPE:
        with contextlib.suppress(OSError, ValueError):
            print(f"error: cannot write the output: {e.strerror or e}", file=sys.stderr,
                  flush=True)
    return 1


def main() -> None:
    """`netlab ARGS...`: the verbs, with every interruption ending in "interrupted"."""
    global _decided
    from netlab.backends.userns.join import enter_from_cli

    enter_from_cli()  # rootless: join the user's namespaces, while single-threaded
    catch_signals()
    code: Any = 0
    try:
        try:
            from netlab.cli import fast

            # `check` runs before typer is imported (fast.py), unless it needs typer.
            code = fast.run(sys.argv[1:])
            if code is None:
                _app()()  # ends with SystemExit (typer's standalone mode)
        except SystemExit as e:
            code = e.code
        except OSError as e:
            code = _output_failed(e)
    except KeyboardInterrupt:  # before typer ran the verb, or after it
        code = INTERRUPTED
    _decided = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # nor does Ctrl-C
    if code != INTERRUPTED:
        sys.exit(code)
    from netlab.errors import report_interrupted

    # typer turns a KeyboardInterrupt outside a verb's own handling into a silent exit
    # 130: say it here, unless the verb said it already.
    report_interrupted(once=True)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    # All clean-up ran on the way here (finally blocks, rollback, lock release). End now:
    # CPython, at its normal exit, kills itself with SIGINT (status -2, not 130) when an
    # interrupt ever escaped an eval() of a string, even one handled later, and typer
    # evaluates annotations that way.
    os._exit(INTERRUPTED)
