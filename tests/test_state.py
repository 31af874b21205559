"""The state file and the lock, on disk only."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from s3gw import state as state_file
from s3gw.errors import LockedError, S3gwError, StateConflict, StateError


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


@pytest.mark.parametrize("fails", ["fsync", "mkstemp"])  # the disk fills while writing, or before the temp file
def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: str) -> None:
    state = state_file.load(tmp_path / "s.json", "s", "eu-west-1")
    state.set("vpc_id", "vpc-1")
    before = (tmp_path / "s.json").read_text()

    def crash(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    import tempfile

    monkeypatch.setattr(os if fails == "fsync" else tempfile, fails, crash)
    with pytest.raises(S3gwError) as refused:  # one line through the CLI, exit 1, not a traceback
        state.set("subnet_ids", ["subnet-1"])
    assert "No space left on device; it still holds what the previous write recorded" in refused.value.line()
    assert "resumes" in refused.value.line() and refused.value.exit_code == 1
    assert (tmp_path / "s.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


# A process that takes the stack's lock, says so on stdout, and holds it until killed.
HOLDER = """
import sys, time
from pathlib import Path
from s3gw.state import LocalStore
LocalStore(Path(sys.argv[1])).lock("up")
print("locked", flush=True)
time.sleep(60)
"""


def hold(path: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "locked\n"
    return process


def test_a_second_run_is_refused_naming_the_holder_and_gets_the_lock_once_the_holder_is_killed(
        tmp_path: Path) -> None:
    holder = hold(tmp_path / "s.json")
    try:
        with pytest.raises(LockedError) as refused:
            state_file.LocalStore(tmp_path / "s.json").lock("down")
        line = refused.value.message
        assert f"locked by 'up' (pid {holder.pid} on {socket.gethostname()}, user " in line
        assert refused.value.exit_code == 4
    finally:
        holder.kill()
        holder.wait()
    # Its lock file is still there, naming the dead process; the kernel freed the lock itself.
    assert json.loads((tmp_path / "s.lock").read_text())["pid"] == holder.pid
    with state_file.locked(state_file.LocalStore(tmp_path / "s.json"), "down"):
        assert json.loads((tmp_path / "s.lock").read_text())["pid"] == os.getpid()
    assert not (tmp_path / "s.lock").exists()


@pytest.mark.parametrize("content", [b"", b"\x00garbage{", b'{"pid": 1, "host": "elsewhere"}'])
def test_any_content_in_a_free_lock_file_does_not_keep_the_lock(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "s.lock").write_bytes(content)
    with state_file.locked(state_file.LocalStore(tmp_path / "s.json"), "up"):
        assert json.loads((tmp_path / "s.lock").read_text())["command"] == "up"


def test_a_directory_where_the_lock_file_goes_is_one_clear_usage_error(tmp_path: Path) -> None:
    (tmp_path / "s.lock").mkdir()
    with pytest.raises(StateError) as refused:
        state_file.LocalStore(tmp_path / "s.json").lock("up")
    assert "is a directory" in refused.value.message and refused.value.exit_code == 2


def test_a_save_is_refused_when_the_state_changed_since_this_run_read_it(tmp_path: Path) -> None:
    first = state_file.load(tmp_path / "s.json", "s", "eu-west-1")
    first.set("vpc_id", "vpc-1")
    second = state_file.load(tmp_path / "s.json", "s", "eu-west-1")
    second.set("subnet_ids", ["subnet-1"])
    with pytest.raises(StateConflict) as refused:
        first.set("vpc_id", "vpc-2")
    assert refused.value.exit_code == 4
    assert json.loads((tmp_path / "s.json").read_text())["resources"] == {"vpc_id": "vpc-1",
                                                                         "subnet_ids": ["subnet-1"]}


# One racer: `rounds` times, try the lock; when it holds it, check it is alone (a marker file made with
# O_EXCL), then let go. From round `die_at` on, it SIGKILLs itself once holding, leaving
# the lock file and the marker behind, as a crashed run does. Prints "<held> <took over from a dead holder>".
RACER = """
import os, signal, sys, time
from pathlib import Path
from s3gw.errors import LockedError
from s3gw.state import LocalStore
store, marker = LocalStore(Path(sys.argv[1])), Path(sys.argv[2])
rounds, die_at, start = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
while time.time() < start:
    time.sleep(0.001)
held = took_over = 0
for round_ in range(rounds):
    try:
        store.lock("race")
    except LockedError:
        time.sleep(0.0002)
        continue
    held += 1
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        other = marker.read_text()
        if not other.endswith("dying"):  # a live holder removes its marker before it lets go
            print("TWO HOLDERS", os.getpid(), other, flush=True)
            os._exit(3)
        took_over += 1  # that holder died holding the lock
        marker.unlink()
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    dying = 0 <= die_at <= round_
    os.write(fd, f"{os.getpid()} {'dying' if dying else 'holding'}".encode())
    os.close(fd)
    if dying:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.0005)
    marker.unlink()
    store.unlock()
print(held, took_over, flush=True)
"""


def test_processes_racing_for_a_dead_holders_lock_never_hold_it_twice(tmp_path: Path) -> None:
    import random
    import time

    seed = random.randrange(1_000_000)
    chooser = random.Random(seed)
    state, marker = tmp_path / "s.json", tmp_path / "inside"
    trials, racers, rounds = 8, 3, 100
    held = took_over = 0
    for trial in range(trials):
        # The stale lock: a holder that died holding it, its lock file and marker left behind.
        dead = subprocess.run([sys.executable, "-c", RACER, str(state), str(marker), "1", "0", "0"])
        assert dead.returncode == -9 and (tmp_path / "s.lock").exists() and marker.exists()
        start = time.time() + 0.3
        processes = [subprocess.Popen([sys.executable, "-c", RACER, str(state), str(marker), str(rounds),
                                       str(chooser.randrange(rounds // 3) if n == 0 else -1), str(start)],
                                      stdout=subprocess.PIPE, text=True) for n in range(racers)]
        outputs = [(p.communicate(timeout=60)[0], p.returncode) for p in processes]
        assert all(code != 3 for _, code in outputs), f"seed {seed}, trial {trial}: two holders: {outputs}"
        assert outputs[0][1] in (0, -9) and [code for _, code in outputs[1:]] == [0] * (racers - 1), outputs
        for out, _ in outputs[1:]:
            counts = [int(n) for n in out.split()]
            held, took_over = held + counts[0], took_over + counts[1]
        if marker.exists():  # racer 0 died holding, and nobody came after it: start the next trial clean
            marker.unlink()
    # Every trial began from a dead holder's lock, and racer 0 died holding it too: all taken over.
    assert took_over >= trials and held > trials * rounds // 10, (seed, held, took_over)
