"""`netlab web`: serve a live view of the deployed labs (docs/web.md). aiohttp and the
web package are imported when the verb runs, never by `netlab --help`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from netlab.cli.common import friendly_errors
from netlab.errors import NetlabError, UsageError, require_root

if TYPE_CHECKING:
    import socket

DEFAULT_PORT = 8470


def web(
    lab: Annotated[str | None, typer.Option(
        "--lab", "-l", help="Lab shown first (default: the only or first deployed lab; the"
                            " page has a lab picker).")] = None,
    port: Annotated[int, typer.Option(
        "--port", "-p", min=0, max=65535, help="TCP port (0: any free port).")]
    = DEFAULT_PORT,
    host: Annotated[str, typer.Option(
        help="Address to listen on. Anything but a loopback address needs the token"
             " printed at start.")] = "127.0.0.1",
    read_only: Annotated[bool, typer.Option(
        "--read-only", help="Refuse actions (link down/up/set, run, capture): for showing"
                            " a lab to a class.")] = False,
) -> None:
    """Serve a live view of running labs in the browser: the graph, each link's state and
    traffic, check and trace paths on it, and actions (link down/up/set, run a command,
    capture). Ctrl-C stops it."""
    with friendly_errors():
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            raise NetlabError("`netlab web` needs the aiohttp package: pip install"
                              " 'aiohttp>=3.9' (or reinstall netlab)") from None
        from netlab.names import check_lab_name
        from netlab.web import server

        if lab is not None:
            check_lab_name(lab, "--lab")
        from netlab.backends.userns import join

        sock = None
        if join.pending():
            # The listening socket is made here, in the host's network namespace (where
            # the browser is), then the user's namespaces are joined, where the labs are.
            sock = _listen(host, port)
            join.enter_for("web")
        require_root("web")
        _serve(lab, host, port, read_only, server.is_loopback(host), sock)


def _cannot_listen(host: str, port: int, e: OSError) -> NetlabError:
    return NetlabError(f"cannot listen on {host}:{port}: {e.strerror or e}; pick another"
                       " with --port (0: any free port)")


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (as aiohttp's own site would make it)."""
    import socket as so

    try:
        family, kind, proto, _, addr = so.getaddrinfo(host, port, type=so.SOCK_STREAM,
                                                      flags=so.AI_PASSIVE)[0]
        s = so.socket(family, kind, proto)
    except OSError as e:
        raise _cannot_listen(host, port, e) from None
    try:
        s.setsockopt(so.SOL_SOCKET, so.SO_REUSEADDR, 1)
        s.bind(addr)
        s.listen(128)
    except OSError as e:
        s.close()
        raise _cannot_listen(host, port, e) from None
    return s


def _serve(lab: str | None, host: str, port: int, read_only: bool, loopback: bool,
           sock: socket.socket | None = None) -> None:
    import asyncio
    import secrets

    from aiohttp import web as aioweb

    from netlab.web.server import make_app
    from netlab.web.source import ApiSource

    _more_files()
    source = ApiSource()
    names = source.names()
    if lab is not None and lab not in names:
        raise UsageError(f"lab {lab!r} is not deployed; deployed: {', '.join(names) or 'none'}")
    token = secrets.token_urlsafe(18)
    app = make_app(source, token, read_only=read_only, loopback=loopback, lab=lab)

    async def run() -> None:
        runner = aioweb.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = aioweb.TCPSite(runner, host, port) if sock is None else \
                aioweb.SockSite(runner, sock)
            try:
                await site.start()
            except OSError as e:
                raise _cannot_listen(host, port, e) from None
            bound = runner.addresses[0][1] if runner.addresses else port
            shown = f"[{host}]" if ":" in host else host
            url = f"http://{shown}:{bound}/" + ("" if loopback else f"?token={token}")
            first = f"?lab={lab}" if lab and loopback else (f"&lab={lab}" if lab else "")
            typer.echo(f"netlab web: {url}{first}"
                       + ("  (read-only)" if read_only else "")
                       + ("" if names else "  (no lab deployed yet: the page lists labs"
                                            " as they are deployed)"), err=True)
            if not loopback:
                typer.echo("  the token is needed to open the page; share it only with"
                           " those who may act on the lab" if not read_only else
                           "  the token is needed to open the page", err=True)
            typer.echo("Ctrl-C stops it", err=True)
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the normal way to stop a server
        typer.echo("netlab web: stopped", err=True)


def _more_files() -> None:
    """The live view keeps one netlink socket open per namespace of each watched lab
    (a 500-host lab: 501): allow as many open files as the hard limit lets."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1 << 16 if hard == resource.RLIM_INFINITY else min(hard, 1 << 16)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def register(app: typer.Typer) -> None:
    app.command()(web)
