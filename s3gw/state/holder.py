"""Who holds a stack's lock: written into the lock (local file or S3 object) by the run that takes it, and
read back to name the holder in a refused run's message."""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from typing import Any


def holder(command: str) -> dict[str, Any]:
    """Who takes a lock: written into the lock so that a refused run can say who holds it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container): the number says enough
        user = str(os.getuid())
    return {"command": command, "user": user, "host": socket.gethostname(), "pid": os.getpid(),
            "since": time.time()}


def holder_line(stack: str, info: dict[str, Any] | None, state: str = "is locked") -> str:
    """`stack 's' is locked by 'up' (pid 12 on host, user ann, since 10:02:03 UTC)`, from a lock's content."""
    if not info:
        return f"stack {stack!r} {state} by another run (its lock names no holder)"
    since = info.get("since")
    when = (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(since))
            if isinstance(since, int | float) else "an unknown time")
    return (f"stack {stack!r} {state} by '{info.get('command', '?')}' (pid {info.get('pid', '?')} on "
            f"{info.get('host', '?')}, user {info.get('user', '?')}, since {when})")


def parse_holder(text: str | bytes | None) -> dict[str, Any] | None:
    try:
        data = json.loads(text or "")
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def pid_alive_here(info: dict[str, Any]) -> bool | None:
    """Whether the holder's process lives, when it ran on this host; None when we cannot tell."""
    pid = info.get("pid")
    if info.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
