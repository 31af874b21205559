"""The state file: what a stack created, written atomically (mode 0600) after every create; and the lock."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s3gw.errors import LockedError, StateError

SCHEMA_VERSION = 1


@dataclass
class State:
    path: Path
    stack: str
    region: str
    account: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # what `up` was asked for: cidr, azs, egress
    exists_on_disk: bool = False

    def get(self, key: str, default: Any = None) -> Any:
        return self.resources.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Record a value and write the file at once: a crash right after loses nothing."""
        if self.resources.get(key) == value:
            return
        self.resources[key] = value
        self.save()

    def drop(self, key: str) -> None:
        if key in self.resources:
            del self.resources[key]
            self.save()

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "stack": self.stack,
            "region": self.region,
            "account": self.account,
            "resources": self.resources,
            "settings": self.settings,
        }

    def save(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the ids are the account's business
        # Write a sibling temp file, fsync, rename: readers see the old file or the new one, never half.
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(self.to_json(), handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.exists_on_disk = True

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.exists_on_disk = False


def load(path: Path, stack: str, region: str) -> State:
    """The stack's state, or an empty one. A file that is not ours for this stack and region is refused."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return State(path=path, stack=stack, region=region)
    except OSError as exc:
        raise StateError(f"cannot read state file {path}: {exc.strerror}", "check its permissions") from None
    except UnicodeDecodeError:
        raise StateError(f"state file {path} is not text (not UTF-8)",
                         "restore it, or move it aside and run 'up' (resources are found again by tag)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateError(
            f"state file {path} is not valid JSON (line {exc.lineno})",
            "restore it, or move it aside and run 'up' (resources are found again by tag)",
        ) from None
    if (not isinstance(data, dict) or not isinstance(data.get("resources"), dict)
            or not isinstance(data.get("settings") or {}, dict)):
        raise StateError(f"state file {path} is not an s3gw state file", "move it aside or use another --state-dir")
    if data.get("schema") != SCHEMA_VERSION:
        raise StateError(
            f"state file {path} has schema {data.get('schema')!r}; this s3gw reads schema {SCHEMA_VERSION}",
            "use the s3gw version that wrote it",
        )
    if data.get("stack") != stack:
        raise StateError(f"state file {path} belongs to stack {data.get('stack')!r}, not {stack!r}",
                         "pass the matching --stack")
    if data.get("region") != region:
        raise StateError(
            f"state file {path} is for region {data.get('region')}, not {region}",
            f"pass --region {data.get('region')}, or another --state-dir for this region",
        )
    return State(path=path, stack=stack, region=region, account=str(data.get("account", "")),
                 resources=data["resources"], settings=dict(data.get("settings") or {}), exists_on_disk=True)


def check_account(state: State, account: str) -> None:
    """Refuse to act on a state file written for another account; adopt the account on first use."""
    if state.account and account and state.account != account:
        raise StateError(
            f"state file {state.path} is for account {state.account}, but the credentials are for {account}",
            "switch --profile, or use another --state-dir",
        )
    if account and not state.account:
        state.account = account
        if state.exists_on_disk:
            state.save()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def locked(state_dir: Path, stack: str, command: str) -> Iterator[None]:
    """One mutating run per stack at a time. A lock left by a dead process on this host is taken over."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = state_dir / f"{stack}.lock"
    me = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "since": time.time()}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            holder = _read_lock(path)
            if holder is not None and _is_stale(holder):
                # Rename before removing so that two runs taking over at once cannot both succeed.
                with contextlib.suppress(FileNotFoundError):
                    os.replace(path, f"{path}.stale.{os.getpid()}")
                    os.unlink(f"{path}.stale.{os.getpid()}")
                continue
            if holder is None:
                time.sleep(0.05)  # another run is writing its lock right now
                continue
            raise LockedError(
                f"stack {stack!r} is locked by '{holder.get('command')}' (pid {holder.get('pid')} on "
                f"{holder.get('host')}, since {time.strftime('%H:%M:%S', time.localtime(holder.get('since', 0)))})",
                f"wait for it to finish; if that process is gone, delete {path}",
            ) from None
        with os.fdopen(fd, "w") as handle:
            json.dump(me, handle)
        break
    else:
        raise LockedError(f"could not take the lock {path}", "run the command again")
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            if (_read_lock(path) or {}).get("pid") == os.getpid():
                path.unlink()


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _is_stale(holder: dict[str, Any]) -> bool:
    if not holder:
        return True  # the file vanished between our open and our read
    if holder.get("host") != socket.gethostname():
        return False  # we cannot tell whether a process on another host lives
    pid = holder.get("pid")
    return not isinstance(pid, int) or not _pid_alive(pid)
