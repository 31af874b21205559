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

from s3gw import engine, inventory
from s3gw.cli import cli
from s3gw.config import make_config
from s3gw.sandbox import Behaviours, Sandbox

KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "CI": "true"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture
def fresh(sandbox: Sandbox) -> Iterator[Sandbox]:
    yield sandbox
    sandbox.behaviours = Behaviours()  # each test switches on only what it tests


def s3gw(sandbox: Sandbox, state_dir: Path, stack: str, *args: str, region: str = REGION) -> Result:
    return CliRunner().invoke(cli, [*args, "--stack", stack, "--endpoint-url", sandbox.endpoint_url, "--region",
                                    region, "--state-dir", str(state_dir)], env=KEYS)


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
    ctx = engine.open_context(make_config(stack="t", region=REGION, state_dir=tmp_path), lambda line: None,
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
    ctx = engine.open_context(make_config(stack="t", region=REGION, state_dir=tmp_path), lambda line: None,
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
