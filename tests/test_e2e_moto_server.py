"""End to end: the real `s3gw` executable against moto's server on 127.0.0.1, through --endpoint-url."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
from conftest import run_s3gw

REGION = "eu-west-1"


def s3gw(*args: str, url: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_s3gw(*args, url=url, state_dir=state_dir, stack="e2e")


def test_the_executable_runs_the_lifecycle_against_moto_server(moto_url: str, tmp_path: Path) -> None:
    up = s3gw("up", url=moto_url, state_dir=tmp_path)
    assert up.returncode == 0, up.stderr
    assert "created" in up.stdout and "Lambda function" in up.stdout
    assert "\x1b[" not in up.stderr + up.stdout  # no colour codes without a terminal

    again = s3gw("up", "--output", "json", url=moto_url, state_dir=tmp_path)
    assert again.returncode == 0, again.stderr
    assert {s["action"] for s in json.loads(again.stdout)["steps"]} == {"unchanged"}

    assert s3gw("status", url=moto_url, state_dir=tmp_path).returncode == 0
    bucket = s3gw("outputs", "bucket", url=moto_url, state_dir=tmp_path).stdout.strip()
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_url)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    # Another run holding the stack's OS lock: `down` is refused, naming it.
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from s3gw.state import LocalStore; LocalStore(Path(sys.argv[1])).lock('up'); "
                               "print('locked', flush=True); time.sleep(60)", str(tmp_path / "e2e.json")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        refused = s3gw("down", "--yes", url=moto_url, state_dir=tmp_path)
        assert refused.returncode == 4 and f"locked by 'up' (pid {holder.pid} on {os.uname().nodename}" \
            in refused.stderr
    finally:
        holder.kill()
        holder.wait()

    down = s3gw("down", "--yes", url=moto_url, state_dir=tmp_path)
    assert down.returncode == 0, down.stderr
    tag = [{"Name": "tag:s3gw:stack", "Values": ["e2e"]}]
    assert ec2.describe_vpcs(Filters=tag)["Vpcs"] == []
    assert ec2.describe_subnets(Filters=tag)["Subnets"] == []
    assert ec2.describe_security_groups(Filters=tag)["SecurityGroups"] == []
    assert ec2.describe_route_tables(Filters=tag)["RouteTables"] == []
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert not (tmp_path / "e2e.json").exists()
