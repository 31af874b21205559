"""409 ConditionalRequestConflict on the S3 state is a write in flight, not a lost race (issue 20, item 4).

The sandbox answers 409 to the next N conditional writes and deletes (Behaviours.s3_conflicts), as S3 does while a
conflicting write or delete of the same key is in flight; botocore's S3 model says to retry on 409.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import REGION

from s3gw import state as state_file
from s3gw.errors import AwsError, LockedError, StateError
from s3gw.sandbox import Behaviours, Sandbox
from s3gw.state import s3 as state_s3
from s3gw.state.s3 import S3Store


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0, behaviours=Behaviours()) as running:
        s3 = boto3.client("s3", region_name=REGION, endpoint_url=running.endpoint_url)
        s3.create_bucket(Bucket="conflict-state", CreateBucketConfiguration={"LocationConstraint": REGION})
        yield running


@pytest.fixture
def s3(sandbox: Sandbox) -> Any:
    sandbox.behaviours = Behaviours()
    return boto3.client("s3", region_name=REGION, endpoint_url=sandbox.endpoint_url)


def conflicts(sandbox: Sandbox, count: int) -> None:
    sandbox.behaviours = Behaviours(s3_conflicts=count)  # counted from here


def test_the_sandbox_answers_409_to_the_next_conditional_writes_only(sandbox: Sandbox, s3: Any) -> None:
    conflicts(sandbox, 1)
    s3.put_object(Bucket="conflict-state", Key="plain", Body=b"x")  # not conditional: never refused
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="conflict-state", Key="k", Body=b"x", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "ConditionalRequestConflict"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    s3.put_object(Bucket="conflict-state", Key="k", Body=b"x", IfNoneMatch="*")  # the next one goes through


def test_a_409_while_taking_or_releasing_the_lock_is_retried_not_taken_for_another_run(sandbox: Sandbox,
                                                                                       s3: Any) -> None:
    store = S3Store(s3, "conflict-state", "s3gw", "busy")
    conflicts(sandbox, 2)
    store.lock("up")  # today: LockedError "was being locked by another run", exit 4
    conflicts(sandbox, 2)
    store.unlock()  # today: returns at the first 409, leaving this run's own lock
    assert s3.list_objects_v2(Bucket="conflict-state", Prefix="s3gw/busy.lock").get("KeyCount") == 0
    S3Store(s3, "conflict-state", "s3gw", "busy").lock("down")  # free for the next run


def test_a_409_on_a_state_write_or_delete_is_retried_and_412_still_means_another_run_won(sandbox: Sandbox,
                                                                                        s3: Any) -> None:
    state = state_file.load(S3Store(s3, "conflict-state", "s3gw", "writes"), "writes", REGION)
    conflicts(sandbox, 2)
    state.set("vpc_id", "vpc-1")  # If-None-Match: * (today: StateConflict, the run stops)
    conflicts(sandbox, 2)
    state.set("subnet_ids", ["subnet-1"])  # If-Match: <etag>
    other = state_file.load(S3Store(s3, "conflict-state", "s3gw", "writes"), "writes", REGION)
    assert other.resources == {"vpc_id": "vpc-1", "subnet_ids": ["subnet-1"]}
    conflicts(sandbox, 2)
    other.remove()  # DeleteObject If-Match
    assert S3Store(s3, "conflict-state", "s3gw", "writes").load() is None
    with pytest.raises(LockedError):  # 412: the state changed under this run
        state.set("route_table_ids", ["rtb-1"])


def test_409_without_end_is_bounded_and_one_line_not_a_lock_held_by_another(sandbox: Sandbox, s3: Any,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_s3, "CONFLICT_ATTEMPTS", 3)
    conflicts(sandbox, 100)
    with pytest.raises(AwsError) as failed:
        S3Store(s3, "conflict-state", "s3gw", "stuck").lock("up")
    assert "409 ConditionalRequestConflict 3 times in a row" in failed.value.line()
    assert failed.value.exit_code == 1 and not isinstance(failed.value, LockedError)


def test_an_s3_state_larger_than_any_s3gw_writes_is_refused_without_reading_it_whole(s3: Any) -> None:
    s3.put_object(Bucket="conflict-state", Key="s3gw/huge.json", Body=b" " * (state_file.MAX_STATE_BYTES + 1))
    with pytest.raises(StateError, match="larger than 1 MiB"):
        S3Store(s3, "conflict-state", "s3gw", "huge").load()
