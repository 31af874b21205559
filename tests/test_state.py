"""The state file and the lock, on disk only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from s3gw import state as state_file
from s3gw.errors import LockedError


def test_every_set_is_on_disk_at_once_with_mode_0600(tmp_path: Path) -> None:
    state = state_file.load(tmp_path / "s.json", "s", "eu-west-1")
    state.set("vpc_id", "vpc-1")
    on_disk = json.loads((tmp_path / "s.json").read_text())
    assert on_disk["resources"] == {"vpc_id": "vpc-1"} and on_disk["schema"] == state_file.SCHEMA_VERSION
    assert (tmp_path / "s.json").stat().st_mode & 0o777 == 0o600
    state.set("subnet_ids", ["subnet-1"])
    again = state_file.load(tmp_path / "s.json", "s", "eu-west-1")
    assert again.resources == {"vpc_id": "vpc-1", "subnet_ids": ["subnet-1"]}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temp file left beside it


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = state_file.load(tmp_path / "s.json", "s", "eu-west-1")
    state.set("vpc_id", "vpc-1")
    before = (tmp_path / "s.json").read_text()

    def crash(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        state.set("subnet_ids", ["subnet-1"])
    assert (tmp_path / "s.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_a_second_run_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    with state_file.locked(tmp_path, "s", "up"):
        holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            # Rewrite the lock as if a live other process held it.
            (tmp_path / "s.lock").write_text(json.dumps(
                {"pid": holder.pid, "host": socket.gethostname(), "command": "up", "since": 0}))
            with pytest.raises(LockedError) as refused, state_file.locked(tmp_path, "s", "down"):
                pass
            assert f"pid {holder.pid}" in refused.value.message and refused.value.exit_code == 4
        finally:
            holder.kill()
            holder.wait()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "s.lock").write_text(json.dumps(
        {"pid": dead.pid, "host": socket.gethostname(), "command": "up", "since": 0}))
    with state_file.locked(tmp_path, "s", "down"):
        assert json.loads((tmp_path / "s.lock").read_text())["pid"] == os.getpid()
    assert not (tmp_path / "s.lock").exists()
