"""Verbs that build and run labs: deploy, destroy, list, status, exec, shell."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from netlab.cli.common import attached, friendly_errors, print_warnings
from netlab.errors import NetlabError, UsageError, plural, require_root

LabOpt = Annotated[str | None, typer.Option(
    "--lab", "-l", help="Lab name (default: the only deployed lab).")]
NodeArg = Annotated[str, typer.Argument(help="Node (or switch) to run in.", show_default=False)]


def deploy(
    file: Annotated[str, typer.Argument(help="A bundled lab's name, or a topology file's path"
                                        " (with a '/' or ending in .toml).",
                                        show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Destroy and redeploy the lab if it"
                                        " is already deployed.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Then run the lab's expectations"
                                        " (like `netlab check`); exit 1 if any fails.")] = False,
    junit: Annotated[Path | None, typer.Option("--junit", help="With --check: also write"
                                               " JUnit XML to this file.")] = None,
) -> None:
    """Build the lab in the kernel: namespaces, bridges, veths, addresses, routes, NAT."""
    with friendly_errors():
        if junit is not None and not check:  # it would silently write nothing
            raise UsageError("--junit FILE goes with --check (it writes the expectations'"
                             " results): add --check, or drop --junit")
        require_root("deploy")
        from netlab import api
        from netlab.lab import Lab
        from netlab.topology.library import resolve

        t0 = time.perf_counter()
        path = resolve(file)  # a bundled lab's name (`netlab labs`), or a path
        topo = api.load(path)
        print_warnings(str(path), topo.warnings)
        handle = Lab.deploy(topo, force=force)
        took = time.perf_counter() - t0
        p = handle.plan
        typer.echo(f"deployed lab {p.lab}: {handle.summary()} in {took:.2f} s")
        if p.nodes:
            first = p.nodes[0].name
            lab = "" if api.labs() == [p.lab] else f"--lab {p.lab} "
            typer.echo(f"  try: netlab exec {lab}{first} -- ip addr    |  netlab status {lab}"
                       f"|  netlab destroy {p.lab}")
        if check:  # services started by exec may need a moment: retry failures briefly
            from netlab.cli.probes import run_check

            if not run_check(None, p.lab, junit=junit, retry=5.0).ok:
                raise typer.Exit(1)


def destroy(
    target: Annotated[str | None, typer.Argument(
        help="Lab name or topology file.", show_default=False)] = None,
    all_labs: Annotated[bool, typer.Option("--all", help="Destroy every deployed lab.")] = False,
) -> None:
    """Remove everything a lab created (idempotent; the topology file may be gone)."""
    with friendly_errors():
        require_root("destroy")
        from netlab import api

        if all_labs and target is not None:
            raise UsageError(f"--all destroys every lab: drop {target!r}, or drop --all")
        if not all_labs and target is None:
            raise UsageError("name a lab (or its topology file), or pass --all")
        # Every name is checked before anything is read or removed (also those of
        # --all: the backend lists only valid names of real directories).
        names = api.labs(half_built=True) if all_labs else [_lab_name(target)]  # type: ignore[arg-type]
        if all_labs and not names:
            typer.echo("no lab is deployed; nothing to destroy")
        for name in names:
            t0 = time.perf_counter()
            rep = api.destroy(name)
            if rep is None:
                typer.echo(f"lab {name} is not deployed; nothing to destroy")
                continue
            took = time.perf_counter() - t0
            if rep.namespaces or rep.processes:
                typer.echo(f"destroyed lab {name}: {plural(rep.namespaces, 'namespace')},"
                           f" {plural(rep.processes, 'process')} in {took:.2f} s")
            else:  # say what happened, not "destroyed": its objects may live on unrecorded
                typer.echo(f"lab {name}: no namespace or process of it was found to remove;"
                           f" its state is removed ({took:.2f} s)")
            for why in rep.skipped:
                typer.echo(f"  left alone: {why}", err=True)


def _lab_name(target: str) -> str:
    """The lab named on the command line, or in a topology file (read leniently: it may
    be broken). A valid lab name is a lab name; a file must look like one (a .toml name
    or a path with '/'). Either way the name is checked before anything is touched."""
    from netlab.names import check_lab_name, lab_name_problem
    from netlab.topology.library import is_path

    if lab_name_problem(target) is None:
        return target
    if not is_path(target):
        return check_lab_name(target)  # `destroy ..`, `destroy .`, names with '\n' or NUL
    from netlab.topology.loader import read_table  # the loader's checks (as root: whose file?)

    try:
        name = read_table(target)["lab"]["name"]
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        why = str(e) or type(e).__name__
        raise UsageError(f"cannot read the lab name from {target}: {why}") from None
    return check_lab_name(name, f"{target}: lab.name")


def list_() -> None:
    """List deployed labs."""
    with friendly_errors():
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from netlab import api
        from netlab.state.layout import LabNotFound

        labs = api.deployed()
        if not labs:
            typer.echo("no lab is deployed")
            return
        table = Table("lab", "nodes", "switches", "namespaces", "source", "description",
                      box=None, header_style="bold")
        for name, p in labs:
            if isinstance(p, NetlabError):
                why = "(no plan: half-built; destroy it)" if isinstance(p, LabNotFound) else \
                    "(plan readable by root only)" if os.geteuid() != 0 else \
                    "(damaged plan; destroy it)"
                table.add_row(escape(name), "?", "?", "?", why, "")
                continue
            # Cells are rich markup: a description with "[/link]" would crash the listing
            # for every user of the machine, "[hard]" would vanish. Text from files is text.
            table.add_row(escape(name), str(len(p.nodes)), str(len(p.switches)),
                          str(len(p.namespaces)), escape(p.source), escape(p.description))
        Console().print(table)


def status(
    lab: LabOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the lab as the kernel sees it; flag drift from the plan (exit 1 if any)."""
    with friendly_errors():
        st = attached(lab, "status").status()
        if as_json:
            typer.echo(json.dumps(st.to_dict(), indent=2))
        else:
            _print_status(st)
        if st.drift:
            raise typer.Exit(1)


def _print_status(st) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.markup import escape as e
    from rich.table import Table

    # Everything but netlab's own colours is escaped: descriptions, commands, names and
    # what the kernel reports are text, never rich markup.
    con = Console()
    con.print(f"[bold]lab {e(st.lab)}[/bold]  {e(st.description)}  ({e(st.source)})")
    colour = {"up": "green", "missing": "red"}
    for ns in st.nodes:
        head = f"\n[bold]{e(ns.kind)} {e(ns.name)}[/bold]  netns {e(ns.netns)}"
        con.print(head + ("" if ns.present else "  [red]MISSING[/red]"))
        if not ns.present:
            continue
        t = Table("interface", "state", "mtu", "addresses", "peer", "sends", box=None,
                  header_style="dim", pad_edge=False)
        for i in ns.interfaces:
            c = colour.get(i.state, "yellow")
            state = f"[{c}]{e(i.state)}[/{c}]" + (" (netlab link)" if i.held_down else "")
            t.add_row(e(i.name), state, str(i.mtu or ""), e(" ".join(i.addresses)),
                      e(i.peer or (f"master {i.master}" if i.master else "")), e(i.shaping))
        con.print(t)
        for r in ns.routes:
            con.print(f"  route {r}", highlight=False, markup=False)
        for p in ns.processes:
            state = "[green]alive[/green]" if p.alive else "[red]dead[/red]"
            con.print(f"  process {p.pid} {state}: {e(p.command)}  (log {e(p.log)})",
                      highlight=False)
    if st.drift:
        con.print(f"\n[red bold]drift ({len(st.drift)}):[/red bold]")
        for d in st.drift:
            con.print(f"  - {d}", highlight=False, markup=False)
    else:
        con.print("\n[green]kernel matches the plan[/green]")


def _enter(lab: str | None, node: str, verb: str) -> tuple[str, str]:
    """Resolve lab and node (or switch), then move this process into it."""
    handle = attached(lab, verb)
    # NamespaceGone (exit 1, one message) if a namespace it needs is missing.
    handle.enter(node)
    return handle.name, node


def exec_(
    node: NodeArg,
    command: Annotated[list[str], typer.Argument(help="Command and its arguments (after --).",
                                                 show_default=False)],
    lab: LabOpt = None,
) -> None:
    """Run a command in a node, like `ip netns exec` (exit code, stdin, stdout pass through).

    In a switch it runs in the switch's network namespace: `netlab exec lan -- bridge fdb`.
    """
    with friendly_errors():
        if command[:1] == ["--"]:  # kept by click once NODE stopped option parsing
            command = command[1:]
        if not command:
            raise UsageError("no command given: netlab exec NODE -- CMD [ARGS...]")
        _enter(lab, node, "exec")
    _replace_process(command)


def shell(node: NodeArg, lab: LabOpt = None) -> None:
    """Open an interactive shell in a node; the prompt shows the node's name."""
    with friendly_errors():
        lab_name, node_name = _enter(lab, node, "shell")
    os.environ["NETLAB_LAB"], os.environ["NETLAB_NODE"] = lab_name, node_name
    prompt = f"[{lab_name}] {node_name}:\\w\\$ "
    sh = os.environ.get("SHELL", "/bin/bash")
    if not os.isatty(0):
        # Commands piped in (`echo 'ip route' | netlab shell r1`) are a script, not a
        # session: no prompt, no job control, no bashrc; an interactive shell would print
        # its prompts and complain that there is no terminal.
        _replace_process([sh])
    if os.path.basename(sh) == "bash":
        # Read the user's bashrc first, then set the prompt (bashrc would override PS1).
        rc = f"[ -f ~/.bashrc ] && . ~/.bashrc\nPS1='{prompt}'\n"
        r, w = os.pipe()
        os.write(w, rc.encode())
        os.close(w)
        _replace_process([sh, "--rcfile", f"/dev/fd/{r}", "-i"], keep_fd=r)
    os.environ["PS1"] = f"[{lab_name}] {node_name}# "
    _replace_process([sh, "-i"])


def _replace_process(argv: list[str], keep_fd: int | None = None) -> None:
    if keep_fd is not None:
        os.set_inheritable(keep_fd, True)
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        typer.echo(f"error: cannot run {argv[0]!r}: {e.strerror}", err=True)
        raise typer.Exit(127 if isinstance(e, FileNotFoundError) else 126) from None


def register(app: typer.Typer) -> None:
    app.command()(deploy)
    app.command()(destroy)
    app.command("list")(list_)
    app.command()(status)
    app.command("exec", context_settings={"allow_interspersed_args": False})(exec_)
    app.command()(shell)
