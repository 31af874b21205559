"""The state in S3 on the sandbox: the bucket checks, `state init`, the lock, conditional state writes, push/pull."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result
from conftest import REGION

from s3gw import state as state_file
from s3gw.cli import cli
from s3gw.errors import LockedError, StateConflict
from s3gw.state.s3 import S3Store


@pytest.fixture(scope="module")
def s3(sandbox_url: str) -> object:
    return boto3.client("s3", region_name=REGION, endpoint_url=sandbox_url)


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--endpoint-url", url, "--region", REGION])


@pytest.fixture(scope="module")
def bucket(sandbox_url: str) -> str:
    result = run(sandbox_url, "state", "init", "s3://team-state/s3gw")
    assert result.exit_code == 0, result.output
    return "team-state"


def store(s3: object, stack: str = "s", bucket: str = "team-state") -> S3Store:
    return S3Store(s3, bucket, "s3gw", stack)


def test_state_init_makes_a_versioned_encrypted_private_tls_only_bucket_and_can_run_again(
        sandbox_url: str, s3: object, bucket: str) -> None:
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"  # type: ignore[attr-defined]
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]  # type: ignore
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]  # type: ignore
    assert all(block.values()) and len(block) == 4
    statements = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]  # type: ignore
    assert [(s["Effect"], s["Action"], s["Condition"]) for s in statements] == [
        ("Deny", "s3:*", {"Bool": {"aws:SecureTransport": "false"}})]
    again = run(sandbox_url, "state", "init", "s3://team-state/other")
    assert again.exit_code == 0 and "already set up" in again.output, again.output
    assert len(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]) == 1  # type: ignore


def test_a_state_bucket_that_is_missing_or_unversioned_is_one_clear_line(sandbox_url: str, s3: object) -> None:
    missing = run(sandbox_url, "status", "--state", "s3://no-such-state-bucket/x")
    assert missing.exit_code == 2 and "state bucket no-such-state-bucket does not exist" in missing.output
    assert "s3gw state init s3://no-such-state-bucket" in missing.output
    s3.create_bucket(Bucket="plain-state", CreateBucketConfiguration={"LocationConstraint": REGION})  # type: ignore
    plain = run(sandbox_url, "up", "--state", "s3://plain-state")
    assert plain.exit_code == 2 and "versioning is off" in plain.output, plain.output
    assert len(plain.output.strip().splitlines()) == 1 and "Traceback" not in plain.output
    bad = run(sandbox_url, "status", "--state", "/tmp/somewhere")
    assert bad.exit_code == 2 and "use s3://BUCKET/PREFIX" in bad.output


def test_the_lock_is_refused_naming_its_holder_and_released_only_by_its_holder(s3: object, bucket: str) -> None:
    first, second = store(s3, "lk"), store(s3, "lk")
    first.lock("up")
    with pytest.raises(LockedError) as refused:
        second.lock("down")
    assert f"stack 'lk' is locked by 'up' (pid {os.getpid()} on {socket.gethostname()}, user " in refused.value.message
    assert refused.value.hint == "wait for it to finish" and refused.value.exit_code == 4
    first.unlock()
    second.lock("down")  # free again
    first.unlock()  # holds nothing now: must not remove the second's lock
    with pytest.raises(LockedError):
        store(s3, "lk").lock("up")
    second.unlock()
    assert s3.list_objects_v2(Bucket=bucket, Prefix="s3gw/lk").get("KeyCount") == 0  # type: ignore


def test_an_old_lock_is_reported_with_its_age_and_unlock_force_removes_it_saying_whose(
        sandbox_url: str, s3: object, bucket: str) -> None:
    old = {"command": "up", "user": "ci", "host": "runner-7", "pid": 4242, "since": time.time() - 3 * 3600}
    s3.put_object(Bucket=bucket, Key="s3gw/old.lock", Body=json.dumps(old).encode())  # type: ignore
    refused = run(sandbox_url, "up", "--stack", "old", "--state", "s3://team-state/s3gw")
    assert refused.exit_code == 4
    assert "locked by 'up' (pid 4242 on runner-7, user ci, since " in refused.output
    assert "3 h 0 min ago; older than 2 h 0 min" in refused.output
    assert "s3gw unlock --force --stack old --state s3://team-state/s3gw" in refused.output
    assert run(sandbox_url, "unlock", "--stack", "old", "--state", "s3://team-state/s3gw").exit_code == 2
    removed = run(sandbox_url, "unlock", "--force", "--stack", "old", "--state", "s3://team-state/s3gw")
    assert removed.exit_code == 0 and "removed the lock: stack 'old' was locked by 'up' (pid 4242 on runner-7" \
        in removed.output
    again = run(sandbox_url, "unlock", "--force", "--stack", "old", "--state", "s3://team-state/s3gw")
    assert again.exit_code == 0 and "not locked" in again.output


def test_a_run_whose_lock_was_force_removed_cannot_overwrite_the_state_of_the_next_holder(
        s3: object, bucket: str) -> None:
    lost = store(s3, "cas")
    lost.lock("up")
    lost_state = state_file.load(lost, "cas", REGION)
    lost_state.set("vpc_id", "vpc-1")
    assert store(s3, "cas").force_unlock() is not None  # someone decided the run was dead
    taker = store(s3, "cas")
    taker.lock("up")
    taker_state = state_file.load(taker, "cas", REGION)
    taker_state.set("subnet_ids", ["subnet-2"])
    written = s3.get_object(Bucket=bucket, Key="s3gw/cas.json")  # type: ignore[attr-defined]

    with pytest.raises(StateConflict) as refused:
        lost_state.set("route_table_ids", ["rtb-1"])
    assert refused.value.exit_code == 4 and "changed since this run read it" in refused.value.message
    with pytest.raises(StateConflict):
        lost_state.remove()  # nor delete it
    lost.unlock()  # its lock is gone: it must not remove the taker's
    now = s3.get_object(Bucket=bucket, Key="s3gw/cas.json")  # type: ignore[attr-defined]
    assert now["ETag"] == written["ETag"]
    assert json.loads(now["Body"].read())["resources"] == {"vpc_id": "vpc-1", "subnet_ids": ["subnet-2"]}
    with pytest.raises(LockedError):
        store(s3, "cas").lock("down")
    taker.unlock()


def test_state_push_and_pull_move_a_stack_between_a_directory_and_s3(sandbox_url: str, s3: object,
                                                                   bucket: str, tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    local = state_file.load(here / "mv.json", "mv", REGION)
    local.set("vpc_id", "vpc-9")
    where = ["--stack", "mv", "--state", "s3://team-state/s3gw"]
    pushed = run(sandbox_url, "state", "push", *where, "--state-dir", str(here))
    assert pushed.exit_code == 0 and "copied" in pushed.output, pushed.output
    assert json.loads(s3.get_object(Bucket=bucket, Key="s3gw/mv.json")["Body"].read()) == local.to_json()  # type: ignore
    pulled = run(sandbox_url, "state", "pull", *where, "--state-dir", str(there))
    assert pulled.exit_code == 0 and (there / "mv.json").read_text() == (here / "mv.json").read_text()
    assert (there / "mv.json").stat().st_mode & 0o777 == 0o600

    local.set("vpc_id", "vpc-10")  # the two now differ: neither side is replaced without --force
    refused = run(sandbox_url, "state", "pull", *where, "--state-dir", str(here))
    assert refused.exit_code == 2 and "already holds a different state" in refused.output
    assert json.loads((here / "mv.json").read_text())["resources"]["vpc_id"] == "vpc-10"
    forced = run(sandbox_url, "state", "push", "--force", *where, "--state-dir", str(here))
    assert forced.exit_code == 0
    assert json.loads(s3.get_object(Bucket=bucket, Key="s3gw/mv.json")["Body"].read())[  # type: ignore
        "resources"]["vpc_id"] == "vpc-10"
    foreign = run(sandbox_url, "state", "push", "--stack", "other", "--state", "s3://team-state/s3gw",
                  "--state-dir", str(tmp_path / "empty"))
    assert foreign.exit_code == 2 and "there is no state at" in foreign.output
    assert not list(tmp_path.glob("*/*.lock"))  # both locks released


def test_a_removed_state_can_be_made_again_and_its_old_versions_are_kept(s3: object, bucket: str) -> None:
    first = state_file.load(store(s3, "again"), "again", REGION)
    first.set("vpc_id", "vpc-1")
    first.remove()  # `down` finished: a delete marker on top, the versions below
    assert store(s3, "again").load() is None
    second = state_file.load(store(s3, "again"), "again", REGION)
    second.set("vpc_id", "vpc-2")  # If-None-Match: * passes over a delete marker
    versions = s3.list_object_versions(Bucket=bucket, Prefix="s3gw/again.json")  # type: ignore[attr-defined]
    assert len(versions["Versions"]) == 2 and len(versions["DeleteMarkers"]) == 1


class ResentWrites:
    """An S3 client whose every PutObject is sent twice, as botocore re-sends a request whose reply was lost:
    the second try meets the first one's work (412 on a conditional write)."""

    def __init__(self, client: object) -> None:
        self.client = client

    def put_object(self, **kwargs: object) -> object:
        self.client.put_object(**kwargs)  # type: ignore[attr-defined]
        return self.client.put_object(**kwargs)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.client, name)


def test_a_lock_or_state_write_whose_reply_was_lost_is_recognised_as_this_runs_own(s3: object, bucket: str) -> None:
    resent = S3Store(ResentWrites(s3), bucket, "s3gw", "resent")
    resent.lock("up")  # the re-sent create meets its own lock: taken, not "locked by myself"
    state = state_file.load(resent, "resent", REGION)
    state.set("vpc_id", "vpc-1")  # the re-sent If-None-Match and If-Match writes meet their own text
    state.set("subnet_ids", ["subnet-1"])
    with pytest.raises(LockedError):
        store(s3, "resent").lock("down")
    other = state_file.load(store(s3, "resent"), "resent", REGION)
    other.resources["vpc_id"] = "vpc-2"
    other.save()  # a different text written meanwhile: the next write of the first run is still refused
    with pytest.raises(StateConflict):
        state.set("route_table_ids", ["rtb-1"])
    resent.unlock()
    assert s3.list_objects_v2(Bucket=bucket, Prefix="s3gw/resent.lock").get("KeyCount") == 0  # type: ignore


def test_runs_racing_for_the_s3_lock_have_exactly_one_winner_every_time(sandbox_url: str, bucket: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Six clients at once, 25 times: S3 (and so the sandbox, which lets one write through at a time)
    lets exactly one If-None-Match create win."""
    import threading

    from botocore.config import Config
    from moto.s3.models import S3Backend

    # Widen the gap between moto's If-None-Match check and its write (the sandbox runs in this process):
    # without the sandbox's one-write-at-a-time, most trials then have several winners.
    original = S3Backend.put_object

    def slow_put(self: S3Backend, *args: object, **kwargs: object) -> object:
        time.sleep(0.02)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(S3Backend, "put_object", slow_put)

    clients = [boto3.client("s3", region_name=REGION, endpoint_url=sandbox_url,
                            config=Config(retries={"total_max_attempts": 1})) for _ in range(6)]
    for trial in range(25):
        winners: list[int] = []
        start = threading.Barrier(len(clients))

        def race(n: int, client: object, stack: str, start: threading.Barrier, winners: list[int]) -> None:
            start.wait()
            try:
                S3Store(client, bucket, "s3gw", stack).lock("up")
            except LockedError:
                return
            winners.append(n)

        threads = [threading.Thread(target=race, args=(n, c, f"race{trial}", start, winners))
                   for n, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(winners) == 1, f"trial {trial}: winners {winners}"
        assert store(clients[0], f"race{trial}").force_unlock() is not None
