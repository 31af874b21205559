"""The local state and lock against what can be planted beside them, and what a full disk or a kill leaves
(issue 26: 15, 22, the second half of 5)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result
from conftest import REGION

from s3gw import state as state_file
from s3gw.cli import cli
from s3gw.errors import StateError

STATE = {"schema": 1, "stack": "t", "region": REGION, "account": "", "resources": {}, "settings": {}}


def run(*args: str, state_dir: Path) -> Result:
    return CliRunner().invoke(cli, [*args, "--stack", "t", "--region", REGION, "--state-dir", str(state_dir)])


def one_line(result: Result, code: int, says: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_a_symbolic_link_planted_as_the_lock_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "t.lock").symlink_to(victim)
    one_line(run("up", state_dir=state_dir), 2, "lock file")
    assert victim.read_text() == "precious\n"  # today: overwritten with the holder's JSON
    assert (state_dir / "t.lock").is_symlink()


@pytest.mark.parametrize("planted", ["link to a file", "link to /dev/zero", "fifo", "too big"])
def test_a_state_file_that_is_a_link_a_fifo_or_unbounded_is_one_line_exit_2(tmp_path: Path, planted: str) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    path = state_dir / "t.json"
    if planted == "link to a file":
        (tmp_path / "elsewhere.json").write_text(json.dumps(STATE))
        path.symlink_to(tmp_path / "elsewhere.json")
    elif planted == "link to /dev/zero":
        path.symlink_to("/dev/zero")  # today: MemoryError after reading without end
    elif planted == "fifo":
        os.mkfifo(path)  # today: the read waits for a writer for ever
    else:
        path.write_bytes(b" " * (state_file.MAX_STATE_BYTES + 1))
    says = {"fifo": "it is a FIFO", "too big": "is larger than 1 MiB"}.get(planted, "is a symbolic link")
    one_line(run("status", state_dir=state_dir), 2, says)


def test_a_fifo_planted_as_the_lock_file_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "t.lock")
    with pytest.raises(StateError, match="is a FIFO, not a regular file"):
        state_file.LocalStore(tmp_path / "t.json").lock("up")


def test_a_state_directory_that_is_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    one_line(run("up", state_dir=tmp_path / "link"), 2, "is a symbolic link")
    assert list((tmp_path / "real").iterdir()) == []


@pytest.mark.parametrize("command", ["status", "up"])
def test_a_state_dir_name_over_the_file_system_limit_is_one_line(tmp_path: Path, command: str) -> None:
    for state_dir in (tmp_path / ("a" * 300), tmp_path / "x" / ("a" * 300) / "y"):
        one_line(run(command, state_dir=state_dir), 2, "is longer than 255 bytes")  # today: OSError Errno 36
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_files_of_this_stack_are_removed_once_the_lock_is_held(tmp_path: Path) -> None:
    """A run killed between mkstemp and the rename leaves `.t.json.XXXXXXXX`; another stack's are not ours."""
    for name in (".t.json.abcd_123", ".other.json.abcd_123", ".t.json.notmkstemp"):
        (tmp_path / name).write_bytes(b"")
    store = state_file.LocalStore(tmp_path / "t.json")
    store.lock("up")
    try:
        assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.abcd_123", ".t.json.notmkstemp", "t.lock"]
    finally:
        store.unlock()


def test_a_run_that_writes_nothing_leaves_no_state_directory_behind(mocked: None, tmp_path: Path) -> None:
    """`up` refused after taking the lock (more zones than the region has) made the directory only to lock."""
    state_dir = tmp_path / "new" / "state"
    one_line(run("up", "--azs", "4", state_dir=state_dir), 2, "")
    assert list(tmp_path.iterdir()) == []  # today: an empty new/state/ is left
    store = state_file.LocalStore(state_dir / "t.json")
    store.lock("up")
    state_file.State(store=store, stack="t", region=REGION).save()
    store.unlock()
    assert sorted(p.name for p in state_dir.iterdir()) == ["t.json"]  # a directory with a state stays


def test_a_failed_unseal_leaves_no_state_directory_behind(mocked: None, tmp_path: Path) -> None:
    one_line(run("unseal", "--yes", state_dir=tmp_path / "new"), 2, "has no bucket recorded")
    assert list(tmp_path.iterdir()) == []  # today: an empty new/ is left


def test_a_full_disk_during_up_is_one_line_and_the_next_up_resumes(mocked: None, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    state_dir = tmp_path / "state"
    real_fsync = os.fsync

    def full_once_the_vpc_exists(fd: int) -> None:
        if b'"vpc_id"' in os.pread(fd, 1 << 20, 0):  # the write that records the VPC just made
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_once_the_vpc_exists)
    failed = run("up", "--azs", "1", state_dir=state_dir)
    assert failed.exit_code == 1 and "Traceback" not in failed.output, failed.output
    errors = [line for line in failed.stderr.splitlines() if not line.startswith(("creating ", "configuring "))]
    assert len(errors) == 1 and "No space left on device" in errors[0], failed.stderr  # today: 64 lines
    assert "run the command again: it finds what was made since by its tag and resumes" in failed.stderr
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert sorted(p.name for p in state_dir.iterdir()) == ["t.json"]  # no temp file, no lock left
    assert "vpc_id" not in json.loads((state_dir / "t.json").read_text())["resources"]
    again = run("up", "--azs", "1", state_dir=state_dir)
    assert again.exit_code == 0, again.output
    vpcs = [v for v in boto3.client("ec2", region_name=REGION).describe_vpcs()["Vpcs"] if not v["IsDefault"]]
    assert len(vpcs) == 1  # resumed: the VPC made before the failed write was found by its tag, not made twice


def test_read_file_never_reads_more_than_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "big"
    with path.open("wb") as handle:
        handle.truncate(1 << 30)  # sparse: read whole it would be a GiB of memory
    with pytest.raises(StateError, match="larger than 1 MiB"):
        state_file.read_file(path, "state file")
