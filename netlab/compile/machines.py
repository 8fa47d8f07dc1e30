"""The machines pass: what each node's private machine holds (docs/machines.md): its files
(the `files` key, and a Kathará-style `<topology dir>/<node>/` directory mirrored into
it), its `startup` commands and whether it has its own PID namespace.

Paths from the file are checked here: a path in the node is absolute and plain (no `..`,
no `//`, not under /proc, /sys or /dev); a file to copy lies inside the topology's
directory, reached without any symbolic link, and is a regular file. Reading those files'
names is reading the input, not the machine: nothing here looks at the running kernel.
"""

from __future__ import annotations

import os
import re
import stat

from netlab.compile.context import Build
from netlab.names import node_name_problem
from netlab.plan.model import FilePlan
from netlab.topology.model import FileSpec

# Where a node's files may not go: kernel filesystems and devices.
FORBIDDEN = ("/proc", "/sys", "/dev")
MAX_FILE = 16 * 1024 * 1024  # a lab file is a config or a page, not a disk image
MAX_FILES = 2000  # per node, mirrored directory included
DEFAULT_MODE = 0o644
_PART = re.compile(r"[^\x00-\x1f\x7f/]{1,255}")


def build(b: Build) -> None:
    """Fill each node plan's files, startup and pid."""
    tf = b.tf
    lab_root = _lab_root(b.source)
    out = []
    for plan in b.nodes:
        node = tf.nodes[plan.name]
        # The kind's files, then the lab directory's, then the `files` key: later wins.
        files = {f.path: f for f in plan.files}
        files.update(_mirrored(b, plan.name, lab_root))
        for path, spec in node.files.items():
            key = f"nodes.{plan.name}.files.{_show(path)}"
            f = _file(b, key, path, spec, lab_root)
            if f is not None:
                files[f.path] = f
        if len(files) > MAX_FILES:
            b.problems.error(f"nodes.{plan.name}.files",
                             f"{len(files)} files; a node takes at most {MAX_FILES}",
                             "copy fewer files (a lab directory holds configs, not trees)")
        pid = tf.defaults.pid if node.pid is None else node.pid
        for i, command in enumerate(node.startup):
            if not command.strip():
                b.problems.error(f"nodes.{plan.name}.startup[{i}]", "an empty command",
                                 "remove it or write the command")
        out.append(plan.model_copy(update={
            "files": sorted(files.values(), key=lambda f: f.path),
            "startup": list(node.startup), "pid": pid}))
    b.nodes = out


def _lab_root(source: str) -> str | None:
    """The directory of the topology file (resolved), or None when it was not read from
    a file (then no directory is mirrored and `source` paths cannot be used)."""
    if not source or not os.path.isfile(source):
        return None
    return os.path.realpath(os.path.dirname(os.path.abspath(source)))


def _show(path: str) -> str:
    return repr(path) if not re.fullmatch(r"[\w./-]+", path) else f'"{path}"'


def check_path(path: str) -> str | None:
    """What is wrong with a path in a node, or None."""
    if not path.startswith("/"):
        return "is not absolute (a path in the node starts with /)"
    parts = path.split("/")[1:]
    if not parts or parts == [""] or any(p == "" for p in parts):
        return "is not a file's path (empty component: '//' or a trailing '/')"
    if any(p in (".", "..") for p in parts):
        return "contains '.' or '..'"
    if any(not _PART.fullmatch(p) for p in parts):
        return "contains a control character or a too long name"
    if len(path) > 4000:
        return "is too long"
    top = "/" + parts[0]
    if top in FORBIDDEN:
        return f"is under {top}, a kernel filesystem netlab does not write into"
    if len(parts) == 1:
        return "is directly in / (netlab writes into directories such as /etc, /root, /srv)"
    return None


def _file(b: Build, key: str, path: str, spec: str | FileSpec, lab_root: str | None
          ) -> FilePlan | None:
    if why := check_path(path):
        b.problems.error(key, f"path {_show(path)} {why}",
                         'write an absolute path in the node, e.g. "/etc/frr/frr.conf"')
        return None
    if isinstance(spec, str):
        return FilePlan(path=path, mode=DEFAULT_MODE, text=spec)
    mode = DEFAULT_MODE if spec.mode is None else spec.mode
    if (spec.content is None) == (spec.source is None):
        b.problems.error(key, "needs exactly one of content and source",
                         'content = "text" for the file\'s text, or source = "dir/file"'
                         " for a file beside the topology")
        return None
    if spec.content is not None:
        return FilePlan(path=path, mode=mode, text=spec.content)
    assert spec.source is not None
    src = _source(b, key + ".source", spec.source, lab_root)
    return None if src is None else FilePlan(path=path, mode=mode, source=src)


def _source(b: Build, key: str, rel: str, lab_root: str | None) -> str | None:
    """The absolute path of a file to copy, checked (see the module docstring)."""
    fix = "name a regular file inside the topology's directory, e.g. \"r1/frr.conf\""
    if lab_root is None:
        b.problems.error(key, "the topology was not read from a file, so a file beside it"
                         " cannot be named", "write the text with content = ...")
        return None
    if rel.startswith("/") or "\x00" in rel:
        b.problems.error(key, f"{_show(rel)} is not relative to the topology's directory", fix)
        return None
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        b.problems.error(key, f"{_show(rel)} leaves the topology's directory", fix)
        return None
    here = lab_root
    for i, part in enumerate(parts):
        here = os.path.join(here, part)
        shown = _show("/".join(parts[:i + 1]))  # relative: the same on every machine
        try:
            st = os.lstat(here)
        except OSError:
            b.problems.error(key, f"{shown} does not exist in the topology's directory", fix)
            return None
        if stat.S_ISLNK(st.st_mode):
            b.problems.error(key, f"{shown} is a symbolic link (netlab copies no link, so"
                             " that nothing outside the lab directory is read)",
                             "copy the file itself into the lab directory")
            return None
        last = i == len(parts) - 1
        if last and not stat.S_ISREG(st.st_mode):
            b.problems.error(key, f"{_show(rel)} is not a regular file", fix)
            return None
        if last and st.st_size > MAX_FILE:
            b.problems.error(key, f"{_show(rel)} is {st.st_size} bytes; a node file holds at"
                             f" most {MAX_FILE // (1024 * 1024)} MiB", fix)
            return None
    return here


def _mirrored(b: Build, node: str, lab_root: str | None) -> dict[str, FilePlan]:
    """`<topology dir>/<node>/`, when it is a directory: every regular file under it, at
    the same path in the node (Kathará's convention). A link in it is an error."""
    if lab_root is None or node_name_problem(node):
        return {}  # a bad name ("..") is an error already: never a path to walk
    top = os.path.join(lab_root, node)
    try:
        if not stat.S_ISDIR(os.lstat(top).st_mode):
            return {}
    except OSError:
        return {}
    key = f"nodes.{node}"
    out: dict[str, FilePlan] = {}
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, top)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                b.problems.error(key, f"{_show(os.path.join(node, rel))} in the lab directory"
                                 " is a symbolic link; netlab copies no link into a node",
                                 "replace it with the file itself, or remove it")
                continue
            if stat.S_ISDIR(st.st_mode):
                continue
            path = "/" + rel
            if "/" not in rel:
                # A file directly in <node>/ (containerlab keeps `r1/frr.conf` there): it
                # would go to the node's /, where netlab writes nothing. Not mirrored.
                b.problems.warning(key, f"{_show(os.path.join(node, rel))} is not copied into"
                                   f" node {node}: the directory {_show(node + '/')} beside the"
                                   " topology is mirrored into the node's root, where"
                                   " netlab writes no file", f"move it to {node}/etc/, "
                                   f"{node}/root/ or another directory, or name it in `files`")
                continue
            if why := check_path(path):
                b.problems.error(key, f"{_show(os.path.join(node, rel))} would go to"
                                 f" {_show(path)}, which {why}", "move or remove it")
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE:
                b.problems.error(key, f"{_show(os.path.join(node, rel))} is not a regular file"
                                 f" of at most {MAX_FILE // (1024 * 1024)} MiB",
                                 "remove it from the lab directory")
                continue
            out[path] = FilePlan(path=path, mode=stat.S_IMODE(st.st_mode) & 0o7777,
                                 source=full)
    return out
