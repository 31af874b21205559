"""The state of a stack and its lock, behind one interface (Store) with two back ends.

A Store loads and saves the state text with compare-and-swap (a save is refused when the state changed
since this run read or wrote it), and locks and unlocks the stack for one run. LocalStore keeps
`<dir>/<stack>.json` (written atomically, mode 0600) and locks `<dir>/<stack>.lock` with fcntl.flock;
S3Store (s3gw.state_s3) keeps `s3://BUCKET/PREFIX/<stack>.json` and locks with S3 conditional writes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import hashlib
import json
import os
import re
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from s3gw.errors import LockedError, S3gwError, StateConflict, StateError

if TYPE_CHECKING:
    from s3gw.config import StackConfig

SCHEMA_VERSION = 1
# A state is a few KiB (ids, settings, an adopted bucket's policy of at most 20 KiB); reading is bounded so
# that a state path pointing at /dev/zero or a huge file is refused, not read into memory.
MAX_STATE_BYTES = 1 << 20
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class Store(Protocol):
    """Where one stack's state and lock live."""

    @property
    def where(self) -> str:
        """The state's location, for messages: a path or an s3:// URL."""
        ...

    def load(self) -> str | None:
        """The state's text, or None if there is none; remembers its version for the next save."""
        ...

    def save(self, text: str) -> None:
        """Write the state if it is still the version this run last loaded or saved, else StateConflict."""
        ...

    def remove(self) -> None:
        """Delete the state (same condition as save)."""
        ...

    def lock(self, command: str) -> None:
        """Take the stack's lock for this run, or LockedError naming the holder."""
        ...

    def unlock(self) -> None:
        """Release the lock this run holds (nothing if it holds none)."""
        ...

    def force_unlock(self) -> dict[str, Any] | None:
        """Remove the lock whoever holds it, if that can be done safely; return whom it named."""
        ...


@contextlib.contextmanager
def locked(store: Store, command: str) -> Iterator[None]:
    """One mutating run per stack at a time; the lock is released however the run ends (Ctrl-C, SIGTERM)."""
    store.lock(command)
    try:
        yield
    finally:
        store.unlock()


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


class LocalStore:
    """`<dir>/<stack>.json` and the OS lock on `<dir>/<stack>.lock`.

    The lock is fcntl.flock held for the run: the kernel frees it when the process dies, however it dies,
    so a dead holder never blocks the next run and two holders are impossible. The lock file's content
    (command, user, host, pid, time) only names the holder for the refused run's message.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_suffix(".lock")
        self._digest: str | None = None  # of the text this run last loaded or saved; None: no file
        self._lock_fd: int | None = None
        self._made_dirs: list[Path] = []  # the directories this run made, deepest first: removed if left empty

    @property
    def where(self) -> str:
        return str(self.path)

    def load(self) -> str | None:
        text = self._read()
        self._digest = _digest(text)
        return text

    def _read(self) -> str | None:
        data = read_file(self.path, "state file")
        if data is None:
            return None
        try:
            return data.decode()
        except UnicodeDecodeError:
            raise StateError(f"state file {self.path} is not text (not UTF-8)",
                             "restore it, or move it aside and run 'up' (resources are found again by tag)") from None

    def _check_unchanged(self) -> None:
        data = read_file(self.path, "state file")
        current = None if data is None else _digest(data.decode(errors="replace"))
        if current != self._digest:
            raise StateConflict(f"state file {self.path} changed since this run read it; nothing was written",
                                "another run wrote it: run the command again")

    def save(self, text: str) -> None:
        self._check_unchanged()
        self._make_dir()
        # Write a sibling temp file, fsync, rename: readers see the old file or the new one, never half.
        tmp = ""
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException as exc:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if isinstance(exc, OSError):  # disk full, quota, read-only file system: one line, the old state whole
                raise S3gwError(f"cannot write state file {self.path}: {exc.strerror or exc}; it still holds what "
                                "the previous write recorded", "free space (or fix the file system) and run the "
                                "command again: it finds what was made since by its tag and resumes") from None
            raise
        self._digest = _digest(text)

    def _make_dir(self) -> None:
        """The state directory is made only when something is written into it (the lock, the state)."""
        missing = [d for d in (self.path.parent, *self.path.parent.parents) if not os.path.lexists(d)]
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the ids are the account's business
        except OSError as exc:
            raise StateError(f"cannot make the state directory {self.path.parent}: {exc.strerror}",
                             "pass a --state-dir s3gw can create") from None
        self._made_dirs = self._made_dirs or missing

    def _clean_temp_files(self) -> None:
        """A run killed between its temp file's creation and the rename leaves `.<stack>.json.XXXXXXXX` (mkstemp's
        8 characters): with the lock held no other run of this stack is writing one, so they are litter."""
        pattern = re.compile(re.escape(f".{self.path.name}.") + r"[a-z0-9_]{8}")
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.path.parent):
                if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    def remove(self) -> None:
        self._check_unchanged()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._digest = None

    def lock(self, command: str) -> None:
        self._make_dir()
        for _ in range(50):
            try:
                fd = self._open_lock_file()
            except FileNotFoundError:  # a run that had made the directory removed it, empty, as it ended
                self._make_dir()
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                info = parse_holder(os.pread(fd, 65536, 0))
                os.close(fd)
                raise LockedError(holder_line(self.path.stem, info),
                                  "wait for it to finish (the lock is freed when that process ends)") from None
            # The previous holder unlinks the file before releasing it: if that happened between our open and
            # our flock, we hold a file nobody else can see, so start again on the path's current file.
            try:
                same = os.path.samestat(os.fstat(fd), os.lstat(self.lock_path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder(command)).encode(), 0)
            self._lock_fd = fd
            self._clean_temp_files()
            return
        raise LockedError(f"could not take the lock {self.lock_path}: it keeps changing", "run the command again")

    def _open_lock_file(self) -> int:
        # O_NOFOLLOW: a symbolic link planted as the lock file would make this run truncate and write its target.
        # O_NONBLOCK: a FIFO there must be refused below, not wait for a writer.
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(self.lock_path, flags, 0o600)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise _refused(exc, self.lock_path, "lock file", "open") from None
        kind = _not_regular(os.fstat(fd).st_mode)
        if kind:
            os.close(fd)
            raise StateError(f"lock file {self.lock_path} is {kind}, not a regular file",
                             "remove it (s3gw makes a file there)")
        return fd

    def unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        try:
            # Unlink while still holding the lock (see lock()): the directory is left as it was found.
            with contextlib.suppress(FileNotFoundError):
                if os.path.samestat(os.fstat(fd), os.lstat(self.lock_path)):
                    self.lock_path.unlink()
        finally:
            os.close(fd)  # closing the last descriptor releases the flock
        made, self._made_dirs = self._made_dirs, []
        with contextlib.suppress(OSError):  # a run that wrote nothing leaves no empty directory behind
            for directory in made:
                directory.rmdir()  # only when empty: stops at the state file's directory once a state was written

    def force_unlock(self) -> dict[str, Any] | None:
        """An OS lock cannot be stale: it is held only by a live process, which must be stopped instead."""
        try:
            fd = self._open_lock_file()
        except FileNotFoundError:  # no state directory: nothing is locked
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = parse_holder(os.pread(fd, 65536, 0))
            raise LockedError(holder_line(self.path.stem, info) + "; that process still runs",
                              "stop it (Ctrl-C or kill <pid>): its lock is freed when it ends") from None
        finally:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
        return None


def read_file(path: Path, what: str) -> bytes | None:
    """A regular file's bytes, at most MAX_STATE_BYTES, never through a symbolic link; None when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _refused(exc, path, what) from None
    try:
        kind = _not_regular(os.fstat(fd).st_mode)
        if kind:
            raise StateError(f"cannot read {what} {path}: it is {kind}, not a regular file",
                             "move it aside (s3gw keeps a regular file there)")
        chunks, size = [], 0
        while size <= MAX_STATE_BYTES and (chunk := os.read(fd, MAX_STATE_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise _refused(exc, path, what) from None
    finally:
        os.close(fd)
    if size > MAX_STATE_BYTES:
        raise StateError(f"{what} {path} is larger than {MAX_STATE_BYTES >> 20} MiB: not an s3gw state",
                         "move it aside, or restore the file s3gw wrote")
    return b"".join(chunks)


def _not_regular(mode: int) -> str:
    """'' for a regular file, else what it is."""
    if stat.S_ISREG(mode):
        return ""
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def _refused(exc: OSError, path: Path, what: str, doing: str = "read") -> StateError:
    if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link
        return StateError(f"{what} {path} is a symbolic link; s3gw never writes or reads through one there",
                          "replace the link with the file itself, or remove it")
    if exc.errno == errno.EISDIR:
        return StateError(f"{what} {path} is a directory", "remove it (s3gw makes a file there)")
    return StateError(f"cannot {doing} {what} {path}: {exc.strerror}",
                      "check its permissions and the state directory's")


def _digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode(errors="replace")).hexdigest()


def open_store(config: StackConfig) -> Store:
    """The back end the config names: S3 for --state s3://…, else the local directory."""
    if config.state_url:
        from s3gw.state_s3 import S3Store

        return S3Store.for_config(config)
    return LocalStore(config.state_path)


@dataclass
class State:
    store: Store
    stack: str
    region: str
    account: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # what `up` was asked for: cidr, azs, egress
    exists_on_disk: bool = False  # the state exists in its store (a file, or an S3 object)
    # Steps that run at once record ids from several threads: one change and its write at a time, in order.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def where(self) -> str:
        return self.store.where

    def get(self, key: str, default: Any = None) -> Any:
        return self.resources.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Record a value and write the state at once: a crash right after loses nothing."""
        with self._lock:
            if self.resources.get(key) == value:
                return
            self.resources[key] = value
            self.save()

    def drop(self, key: str) -> None:
        with self._lock:
            if key in self.resources:
                del self.resources[key]
                self.save()

    def change_settings(self, change: Callable[[dict[str, Any]], None], *, save: bool) -> None:
        """Change the settings in place, one change at a time as set() (steps running at once read, change and
        write them back), and write the state when `save`."""
        with self._lock:
            change(self.settings)
            if save:
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

    def text(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"

    def save(self) -> None:
        with self._lock:
            self.store.save(self.text())
            self.exists_on_disk = True

    def remove(self) -> None:
        self.store.remove()
        self.exists_on_disk = False


def load(store: Store | Path, stack: str, region: str) -> State:
    """The stack's state, or an empty one. A state that is not ours for this stack and region is refused."""
    if isinstance(store, Path):
        store = LocalStore(store)
    text = store.load()
    if text is None:
        return State(store=store, stack=stack, region=region)
    return parse(store, text, stack, region)


def parse(store: Store, text: str, stack: str, region: str) -> State:
    where = store.where
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateError(
            f"state file {where} is not valid JSON (line {exc.lineno})",
            "restore it, or move it aside and run 'up' (resources are found again by tag)",
        ) from None
    if (not isinstance(data, dict) or not isinstance(data.get("resources"), dict)
            or not isinstance(data.get("settings") or {}, dict)):
        raise StateError(f"state file {where} is not an s3gw state file", "move it aside or use another --state-dir")
    if data.get("schema") != SCHEMA_VERSION:
        raise StateError(
            f"state file {where} has schema {data.get('schema')!r}; this s3gw reads schema {SCHEMA_VERSION}",
            "use the s3gw version that wrote it",
        )
    if data.get("stack") != stack:
        raise StateError(f"state file {where} belongs to stack {data.get('stack')!r}, not {stack!r}",
                         "pass the matching --stack")
    if data.get("region") != region:
        raise StateError(
            f"state file {where} is for region {data.get('region')}, not {region}",
            f"pass --region {data.get('region')}, or another --state-dir for this region",
        )
    return State(store=store, stack=stack, region=region, account=str(data.get("account", "")),
                 resources=data["resources"], settings=dict(data.get("settings") or {}), exists_on_disk=True)


def check_account(state: State, account: str) -> None:
    """Refuse to act on a state file written for another account; adopt the account on first use."""
    if state.account and account and state.account != account:
        raise StateError(
            f"state file {state.where} is for account {state.account}, but the credentials are for {account}",
            "switch --profile, or use another --state-dir",
        )
    if account and not state.account:
        state.account = account
        if state.exists_on_disk:
            state.save()


def copy_state(source: Store, target: Store, stack: str, region: str, *, force: bool) -> str:
    """`state push` / `state pull`: the stack's state from one store to the other (both locked by the caller).
    Only a valid state of this stack and region is copied; a different state at the target is kept unless force."""
    text = source.load()
    if text is None:
        raise StateError(f"there is no state at {source.where}", "nothing to copy: check --stack and --state")
    parse(source, text, stack, region)
    current = target.load()
    if current == text:
        return "unchanged"
    if current is not None and not force:
        raise StateError(f"{target.where} already holds a different state of stack {stack!r}",
                         "pass --force to replace it (an S3 state bucket keeps the replaced version)")
    target.save(text)
    return "copied"
