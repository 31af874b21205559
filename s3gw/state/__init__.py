"""The state of a stack and its lock, behind one interface (Store) with two back ends.

A Store loads and saves the state text with compare-and-swap (a save is refused when the state changed
since this run read or wrote it), and locks and unlocks the stack for one run. LocalStore keeps
`<dir>/<stack>.json` (written atomically, mode 0600) and locks `<dir>/<stack>.lock` with fcntl.flock;
S3Store (s3gw.state.s3) keeps `s3://BUCKET/PREFIX/<stack>.json` and locks with S3 conditional writes.

This package: the state itself (State, load, parse, copy_state) and open_store, the factory; the
interface in store.py, the back ends in local.py and s3.py, the lock's holder in holder.py. No module of
the package imports this one, so the factory can import both back ends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3gw.errors import StateError
from s3gw.state.holder import holder_line
from s3gw.state.local import LocalStore, read_file
from s3gw.state.store import MAX_STATE_BYTES, Store, locked

if TYPE_CHECKING:
    from s3gw.config import StackConfig

__all__ = [
    "check_account", "copy_state", "holder_line", "load", "LocalStore", "locked", "MAX_STATE_BYTES",
    "open_store", "parse", "read_file", "SCHEMA_VERSION", "State", "Store",
]


SCHEMA_VERSION = 1


def open_store(config: StackConfig) -> Store:
    """The back end the config names: S3 for --state s3://…, else the local directory."""
    if config.state_url:
        from s3gw.state.s3 import S3Store

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
