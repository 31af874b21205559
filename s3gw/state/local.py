"""The state on this machine: `<dir>/<stack>.json` (written atomically, mode 0600), locked by fcntl.flock on
`<dir>/<stack>.lock`; never read or written through a link, a FIFO or a device."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

from s3gw.errors import LockedError, S3gwError, StateConflict, StateError
from s3gw.state.holder import holder, holder_line, parse_holder
from s3gw.state.store import MAX_STATE_BYTES

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


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
