"""The last check of a lab (`netlab check`, or the web view's Check button), kept in the
lab's state directory so that the web view can show it on the graph.

lastcheck.json: {"format": 1, "at": unix time, "origin": "cli" | "web", "report": what
`netlab check --json` prints}. Written whole (a reader sees the old record or the new
one), 0600, never through a symlink, and only into a lab directory that exists: a check
racing a destroy must not bring the directory back.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from typing import Any

from netlab.state.layout import lab_dir, read_state_file

LAST_CHECK_FILE = "lastcheck.json"
FORMAT = 1
ORIGINS = ("cli", "web")


def write(lab: str, report: dict[str, Any], origin: str) -> dict[str, Any] | None:
    """Record `report` (CheckReport.to_dict()) as the lab's last check: the record, or
    None when the lab has no state directory (destroyed meanwhile)."""
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}, not {origin!r}")
    record = {"format": FORMAT, "at": time.time(), "origin": origin, "report": report}
    text = json.dumps(record, sort_keys=True) + "\n"
    try:
        # The directory itself is never followed (lab_dir checked it; O_NOFOLLOW here
        # refuses one swapped for a link since), and every name below is opened in it.
        dfd = os.open(lab_dir(lab), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                      | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    tmp = f".{LAST_CHECK_FILE}.{secrets.token_hex(4)}"  # two checks at once: no clash
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dfd)
        try:
            with open(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, LAST_CHECK_FILE, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise
    finally:
        os.close(dfd)
    return record


def read(lab: str) -> dict[str, Any] | None:
    """The lab's last check as written, or None: none yet, or a damaged record (the
    next check writes a good one)."""
    text = read_state_file(lab_dir(lab) / LAST_CHECK_FILE)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    ok = (isinstance(data, dict) and data.get("format") == FORMAT
          and isinstance(data.get("at"), (int, float)) and data.get("origin") in ORIGINS
          and isinstance(data.get("report"), dict)
          and isinstance(data["report"].get("results"), list))
    return data if ok else None
