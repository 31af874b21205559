"""The bucket as real accounts answer (issue 20 items 1, 6, 7; issue 26 items 3, 21): CreateBucket that refuses tags,
bucket listings paged in the stack's region, us-east-1's 200 to a bucket already owned, a bucket the stack does not
own named with --bucket, a bucket whose tag was removed from outside. On the sandbox with each behaviour on, or on
moto in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from conftest import REGION
from fault_helpers import on_every_client
from sandbox_fixtures import s3gw_on

from s3gw import commands, inventory
from s3gw.cli import cli
from s3gw.config import make_config
from s3gw.run import open_context
from s3gw.sandbox import Behaviours, Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture
def fresh(sandbox: Sandbox) -> Iterator[Sandbox]:
    yield sandbox
    sandbox.behaviours = Behaviours()  # each test switches on only what it tests


def s3gw(sandbox: Sandbox, state_dir: Path, stack: str, *args: str, region: str = REGION) -> Result:
    return s3gw_on(sandbox.endpoint_url, state_dir, stack, *args, region=region)


def local(state_dir: Path, *args: str, stack: str = "t") -> Result:
    """s3gw on the in-process moto (the `mocked` fixture)."""
    return CliRunner().invoke(cli, [*args, "--stack", stack, "--region", REGION, "--state-dir", str(state_dir)])


def s3_of(sandbox: Sandbox | None, region: str = REGION) -> Any:
    options = {"endpoint_url": sandbox.endpoint_url, "aws_access_key_id": "testing",
               "aws_secret_access_key": "testing"} if sandbox else {}
    return boto3.client("s3", region_name=region, **options)


def make_bucket(s3: Any, name: str, region: str, **configuration: Any) -> None:
    location = {"LocationConstraint": region} if region != "us-east-1" else {}
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={**location, **configuration})


def recorded(state_dir: Path, stack: str) -> dict[str, Any]:
    return dict(json.loads((state_dir / f"{stack}.json").read_text())["resources"])


def stack_tag(s3: Any, bucket: str) -> str | None:
    try:
        tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except Exception:
        return None
    return next((t["Value"] for t in tags if t["Key"] == "s3gw:stack"), None)


# --- issue 20.6: ListBuckets paged, in the stack's region -------------------------------------------------------


def list_buckets_requests(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The parameters of every ListBuckets s3gw sends from now on."""
    sent: list[dict[str, Any]] = []

    def register(client: Any, service: str) -> None:
        if service == "s3":
            client.meta.events.register("provide-client-params.s3.ListBuckets",
                                        lambda params, **_: sent.append(dict(params)))

    on_every_client(monkeypatch, register)
    return sent


def test_every_bucket_listing_is_paged_and_kept_to_the_stack_region(mocked: None, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """down --from-tags and test-invoke's other bucket list buckets one way: paged, with BucketRegion."""
    from s3gw.invoke import _another_bucket

    make_bucket(s3_of(None, "us-west-2"), "aaa-in-oregon", "us-west-2")
    make_bucket(s3_of(None), "zzz-in-ireland", REGION)
    sent = list_buckets_requests(monkeypatch)
    ctx = open_context(make_config(stack="t", region=REGION, state_dir=tmp_path), lambda line: None,
                              persist=False)
    # the other bucket is one the stack's endpoint can reach: the one in the stack's region, not the first listed
    assert _another_bucket(ctx, "t-bucket") == "zzz-in-ireland"
    assert local(tmp_path, "down", "--from-tags", "--yes").exit_code == 0
    assert len(sent) == 2 and all(p.get("BucketRegion") == REGION and p.get("MaxBuckets") for p in sent), sent


def test_the_listing_follows_every_page(mocked: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One bucket a page: the stack's bucket, last by name, is still found (the sandbox pages as S3 does)."""
    monkeypatch.setattr(inventory, "BUCKETS_PAGE", 1)
    s3 = s3_of(None)
    for name in ("a-one", "b-two"):
        make_bucket(s3, name, REGION)
    make_bucket(s3, "z-the-stacks", REGION, Tags=[{"Key": "s3gw:stack", "Value": "t"}])
    ctx = open_context(make_config(stack="t", region=REGION, state_dir=tmp_path), lambda line: None,
                              persist=False)
    assert inventory.region_buckets(ctx) == ["a-one", "b-two", "z-the-stacks"]
    assert inventory.stack_resources(ctx)["buckets"] == ["z-the-stacks"]


def test_down_from_tags_is_not_stopped_by_a_bucket_in_an_opt_in_region(fresh: Sandbox, tmp_path: Path) -> None:
    """GetBucketTagging of a bucket in me-south-1 from eu-west-1's endpoint answers IllegalLocationConstraintException
    (cloud-custodian#8005); listed in the stack's region only, it is never asked."""
    make_bucket(s3_of(fresh, "me-south-1"), "far-away-opt-in", "me-south-1")
    assert s3gw(fresh, tmp_path, "opt", "up", "--azs", "1").exit_code == 0
    (tmp_path / "opt.json").unlink()
    down = s3gw(fresh, tmp_path, "opt", "down", "--from-tags", "--yes")
    assert down.exit_code == 0, down.output
    names = [b["Name"] for b in s3_of(fresh).list_buckets()["Buckets"]]
    assert "far-away-opt-in" in names and not [n for n in names if n.startswith("opt-")]
    with pytest.raises(Exception, match="IllegalLocationConstraintException"):  # the sandbox answers as S3 does
        s3_of(fresh).get_bucket_tagging(Bucket="far-away-opt-in")


# --- issue 20.1: CreateBucket that refuses tags -------------------------------------------------------------------


def test_where_create_bucket_takes_no_tags_up_tags_the_bucket_at_once(fresh: Sandbox, tmp_path: Path) -> None:
    fresh.behaviours = Behaviours(no_create_bucket_tags=True)
    up = s3gw(fresh, tmp_path, "nt", "up", "--azs", "1")
    assert up.exit_code == 0, up.output
    resources = recorded(tmp_path, "nt")
    assert "bucket_pending" not in resources and stack_tag(s3_of(fresh), resources["bucket"]) == "nt"
    assert s3gw(fresh, tmp_path, "nt", "up").exit_code == 0  # converged
    down = s3gw(fresh, tmp_path, "nt", "down", "--yes")
    assert down.exit_code == 0, down.output
    assert resources["bucket"] not in [b["Name"] for b in s3_of(fresh).list_buckets()["Buckets"]]


class Crash(BaseException):
    """The process dies here."""


def crash_before_tagging(monkeypatch: pytest.MonkeyPatch) -> None:
    def register(client: Any, service: str) -> None:
        def crash(model: Any, **_: Any) -> None:
            if model.name == "PutBucketTagging":
                raise Crash()

        if service == "s3":
            client.meta.events.register("before-call", crash)

    on_every_client(monkeypatch, register)


@pytest.mark.parametrize("then", ["up", "down"])
def test_a_crash_between_the_untagged_create_and_its_tag_ends_clean(fresh: Sandbox, tmp_path: Path, then: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The state records the bucket as pending before the untagged CreateBucket: the next `up` tags it, `down`
    deletes it, for it is untouched since (no tag, no policy, no object)."""
    fresh.behaviours = Behaviours(no_create_bucket_tags=True)
    stack = f"cr{then}"
    with monkeypatch.context() as patch:
        crash_before_tagging(patch)
        with pytest.raises(Crash):
            commands.up.up(make_config(stack=stack, region=REGION, endpoint_url=fresh.endpoint_url, state_dir=tmp_path,
                                  azs=1), lambda line: None)
    pending = recorded(tmp_path, stack)["bucket_pending"]
    assert stack_tag(s3_of(fresh), pending) is None  # made, untagged: only the state says whose it is
    if then == "up":
        again = s3gw(fresh, tmp_path, stack, "up")
        assert again.exit_code == 0, again.output
        assert stack_tag(s3_of(fresh), pending) == stack and "bucket_pending" not in recorded(tmp_path, stack)
    down = s3gw(fresh, tmp_path, stack, "down", "--yes")
    assert down.exit_code == 0, down.output
    assert pending not in [b["Name"] for b in s3_of(fresh).list_buckets()["Buckets"]]
    assert not (tmp_path / f"{stack}.json").exists()


# --- issue 20.7: us-east-1 answers 200 to a CreateBucket of a bucket the account owns ---------------------------


def test_the_sandbox_answers_200_to_a_bucket_made_again_in_us_east_1_only(fresh: Sandbox) -> None:
    """BucketAlreadyOwnedByYou: "Amazon S3 returns this error in all Amazon Web Services Regions except in the North
    Virginia Region ... returns 200 OK" (botocore's s3 model); moto answers so, and the sandbox serves moto."""
    virginia, ireland = s3_of(fresh, "us-east-1"), s3_of(fresh)
    make_bucket(virginia, "made-twice-virginia", "us-east-1")
    make_bucket(virginia, "made-twice-virginia", "us-east-1")  # 200 again
    make_bucket(ireland, "made-twice-ireland", REGION)
    with pytest.raises(Exception, match="BucketAlreadyOwnedByYou"):
        make_bucket(ireland, "made-twice-ireland", REGION)


def test_a_bucket_another_stack_made_meanwhile_in_us_east_1_is_not_taken(mocked: None, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Stack `other` makes the bucket between this run's look and its CreateBucket: us-east-1 answers 200 all the
    same. The bucket keeps its owner's tag; this stack does not record it."""
    virginia = boto3.client("s3", region_name="us-east-1")

    def register(client: Any, service: str) -> None:
        def race(model: Any, **_: Any) -> None:
            if model.name == "CreateBucket" and not virginia.list_buckets()["Buckets"]:
                virginia.create_bucket(Bucket="raced-bucket", CreateBucketConfiguration={
                    "Tags": [{"Key": "s3gw:stack", "Value": "other"}]})

        if service == "s3":
            client.meta.events.register("before-call", race)

    on_every_client(monkeypatch, register)
    up = CliRunner().invoke(cli, ["up", "--stack", "t", "--region", "us-east-1", "--bucket", "raced-bucket",
                                  "--azs", "1", "--state-dir", str(tmp_path)])
    assert up.exit_code == 1 and "bucket raced-bucket was made meanwhile, not by stack t" in up.stderr, up.output
    assert stack_tag(virginia, "raced-bucket") == "other"  # its owner's tag, not overwritten
    assert "bucket" not in recorded(tmp_path, "t") and "bucket_pending" not in recorded(tmp_path, "t")


# --- issue 26.3: a --bucket the stack does not own is refused before anything is made ----------------------------


def test_a_bucket_the_stack_does_not_own_is_refused_first_naming_adopt(mocked: None, tmp_path: Path) -> None:
    from fault_helpers import EMPTY, count_resources

    make_bucket(s3_of(None), "their-data", REGION)
    for command in ("up", "plan"):
        refused = local(tmp_path, command, "--bucket", "their-data")
        lines = refused.stderr.strip().splitlines()
        assert refused.exit_code == 2 and len(lines) == 1, refused.output
        assert "bucket their-data exists and is not stack t's" in lines[0] and "--adopt" in lines[0]
    assert count_resources() == {**EMPTY, "buckets": 1}  # no VPC, subnet, group or role made first
    assert not (tmp_path / "t.json").exists()


def test_a_bucket_an_earlier_up_never_made_is_not_said_to_be_deleted_by_down(mocked: None, tmp_path: Path) -> None:
    """A state an earlier s3gw left after refusing --bucket their-data (the setting recorded, no bucket): another
    --bucket leaves nothing behind, and no `down` is advised for a bucket it would not delete."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "t.json").write_text(json.dumps({"schema": 1, "stack": "t", "region": REGION, "account": "123456789012",
                                                 "resources": {}, "settings": {"bucket": "their-data"}}))
    plan = local(tmp_path, "plan", "--bucket", "a-fresh-bucket-name")
    assert plan.exit_code == 0 and "leave it behind" not in plan.stderr and "'s3gw down'" not in plan.stderr, \
        plan.output


# --- issue 26.21: the stack's tag removed from its bucket from outside ------------------------------------------


def test_a_bucket_whose_tag_was_removed_is_named_and_retagged_on_confirmation(mocked: None, tmp_path: Path) -> None:
    assert local(tmp_path, "up", "--azs", "1").exit_code == 0
    bucket = recorded(tmp_path, "t")["bucket"]
    s3 = s3_of(None)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "data"}]})  # stack tag gone
    s3.delete_bucket_policy(Bucket=bucket)  # and the seal with it

    up = local(tmp_path, "up")
    lines = up.stderr.strip().splitlines()
    assert up.exit_code == 1 and lines[-1].startswith("error:"), up.output
    assert "the state records that stack t made it" in lines[-1] and "it is not sealed now" in lines[-1]
    assert "s3gw up --retag-bucket" in lines[-1]

    retag = local(tmp_path, "up", "--retag-bucket")
    assert retag.exit_code == 0, retag.output
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["s3gw:stack"] == "t" and tags["team"] == "data"  # theirs kept
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"]  # sealed again
    assert local(tmp_path, "status").exit_code == 0

    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "data"}]})
    down = local(tmp_path, "down", "--yes")
    assert down.exit_code == 1, down.output
    assert "the state records that stack t made it" in down.stderr and "down --from-tags" in down.stderr
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "s3gw:stack", "Value": "t"}]})
    assert local(tmp_path, "down", "--from-tags", "--yes").exit_code == 0  # the way on it named
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
