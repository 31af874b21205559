"""The interface every state back end offers (Store), and what they share: the lock held for a run, the
bound on a state's size."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

# A state is a few KiB (ids, settings, an adopted bucket's policy of at most 20 KiB); reading is bounded so
# that a state path pointing at /dev/zero or a huge file is refused, not read into memory.
MAX_STATE_BYTES = 1 << 20


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
