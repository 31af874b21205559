"""End to end: the real `s3gw` executable against `s3gw sandbox`, where the function's code really runs and
the endpoint path and bucket policy are enforced. Each test breaks one link and reads test-invoke's diagnosis."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from s3gw.policy.documents import bucket_policy

REGION = "us-east-1"


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    executable = shutil.which("s3gw")
    assert executable, "the s3gw console script is not installed (pip install -e .)"
    server = subprocess.Popen([executable, "sandbox", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, stdin=subprocess.DEVNULL)
    try:
        line = server.stdout.readline() if server.stdout else ""
        assert "AWS_ENDPOINT_URL=" in line, (line, server.stderr.read() if server.poll() is not None else "")
        yield line.split("AWS_ENDPOINT_URL=")[1].split()[0]
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture
def stack(sandbox_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A fresh stack made by `s3gw up` (a new stack name per test), taken down afterwards."""
    name = "e2e" + os.urandom(3).hex()
    env = {**os.environ, "AWS_ENDPOINT_URL": sandbox_url, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
           "S3GW_STACK": name, "S3GW_STATE_DIR": str(tmp_path), "CI": "true"}
    made = s3gw("up", env=env)
    assert made.returncode == 0, made.stderr
    outputs = json.loads(s3gw("outputs", "--output", "json", env=env).stdout)
    yield {"env": env, **outputs}
    gone = s3gw("down", "--yes", env=env)
    assert gone.returncode == 0, gone.stderr


def s3gw(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([shutil.which("s3gw") or "s3gw", *args], capture_output=True, text=True, env=env,
                          timeout=120, stdin=subprocess.DEVNULL)


def client(service: str, stack: dict[str, Any]) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=stack["env"]["AWS_ENDPOINT_URL"])


def test_the_function_lists_what_it_wrote_and_the_host_is_refused(stack: dict[str, Any]) -> None:
    for key in ("a.txt", "dir/b.txt"):
        wrote = s3gw("test-invoke", "--put", key, env=stack["env"])
        assert wrote.returncode == 0, wrote.stdout + wrote.stderr
    listed = s3gw("test-invoke", "--output", "json", env=stack["env"])
    assert listed.returncode == 0, listed.stdout + listed.stderr
    report = json.loads(listed.stdout)
    assert sorted(o["key"] for o in report["objects"]) == ["a.txt", "dir/b.txt"]
    assert report["outside_refused"] is True
    s3 = client("s3", stack)
    with pytest.raises(s3.exceptions.ClientError) as refused:
        s3.list_objects_v2(Bucket=stack["bucket"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert s3gw("verify", env=stack["env"]).returncode == 0


def test_unseal_upload_once_then_up_seals_again(stack: dict[str, Any]) -> None:
    """The seed post's "upload once" step: unseal, upload from here, seal again with up."""
    unsealed = s3gw("unseal", "--yes", env=stack["env"])
    assert unsealed.returncode == 0, unsealed.stderr
    s3 = client("s3", stack)
    s3.put_object(Bucket=stack["bucket"], Key="uploaded-once.txt", Body=b"from the host")
    verify = s3gw("verify", env=stack["env"])
    assert verify.returncode == 3 and "✗ seal (bucket policy)" in verify.stdout and "unsealed" in verify.stdout
    assert s3gw("up", env=stack["env"]).returncode == 0
    assert s3gw("verify", env=stack["env"]).returncode == 0
    with pytest.raises(s3.exceptions.ClientError):
        s3.list_objects_v2(Bucket=stack["bucket"])
    listed = json.loads(s3gw("test-invoke", "--output", "json", env=stack["env"]).stdout)
    assert [o["key"] for o in listed["objects"]] == ["uploaded-once.txt"]


def test_no_https_egress_times_out_with_the_network_diagnosis(stack: dict[str, Any]) -> None:
    client("ec2", stack).revoke_security_group_egress(GroupId=stack["security_group_id"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "PrefixListIds": [{"PrefixListId": stack["prefix_list_id"]}]}])
    result = s3gw("test-invoke", env=stack["env"])
    assert result.returncode == 3, result.stdout + result.stderr
    assert "ConnectTimeoutError" in result.stdout and "no egress on 443" in result.stdout
    assert "s3gw verify" in result.stdout
    verify = s3gw("verify", env=stack["env"])
    assert verify.returncode == 3 and "✗ security groups: egress 443" in verify.stdout
    assert s3gw("up", env=stack["env"]).returncode == 0  # repaired
    assert s3gw("test-invoke", env=stack["env"]).returncode == 0


def test_no_route_to_the_endpoint_times_out_with_the_network_diagnosis(stack: dict[str, Any]) -> None:
    client("ec2", stack).modify_vpc_endpoint(VpcEndpointId=stack["endpoint_id"],
                                             RemoveRouteTableIds=stack["route_table_ids"])
    result = s3gw("test-invoke", env=stack["env"])
    assert result.returncode == 3, result.stdout + result.stderr
    assert "timed out" in result.stdout and "no route to the S3 prefix list" in result.stdout
    verify = s3gw("verify", env=stack["env"])
    assert verify.returncode == 3 and ": route to S3" in verify.stdout
    assert s3gw("up", env=stack["env"]).returncode == 0
    assert s3gw("test-invoke", env=stack["env"]).returncode == 0


def test_a_policy_naming_another_endpoint_gives_access_denied(stack: dict[str, Any]) -> None:
    client("s3", stack).put_bucket_policy(Bucket=stack["bucket"], Policy=json.dumps(
        bucket_policy(stack["bucket"], "vpce-0ther00000000000")))
    result = s3gw("test-invoke", env=stack["env"])
    assert result.returncode == 3, result.stdout + result.stderr
    # S3 names the policy that refused (a resource-based policy: the seal), and test-invoke says so (issue 20 item 8)
    assert "AccessDenied" in result.stdout and "refused the call by the bucket policy" in result.stdout
    assert "a stale endpoint id" in s3gw("verify", env=stack["env"]).stdout


def test_a_handler_that_raises_is_a_function_error(stack: dict[str, Any]) -> None:
    client("lambda", stack).update_function_configuration(FunctionName=stack["function_name"],
                                                          Environment={"Variables": {}})
    result = s3gw("test-invoke", "--output", "json", env=stack["env"])
    assert result.returncode == 3
    report = json.loads(result.stdout)
    assert report["error_type"] == "KeyError" and "BUCKET_NAME" in report["error"]
    assert "START" in report["log_tail"] and "REPORT" in report["log_tail"]


def test_a_function_past_its_timeout_is_reported_as_timed_out(stack: dict[str, Any]) -> None:
    lam = client("lambda", stack)
    lam.update_function_configuration(FunctionName=stack["function_name"], Timeout=1)
    client("ec2", stack).modify_vpc_endpoint(VpcEndpointId=stack["endpoint_id"],
                                             RemoveRouteTableIds=stack["route_table_ids"])
    result = s3gw("test-invoke", "--output", "json", env=stack["env"])
    assert result.returncode == 3
    report = json.loads(result.stdout)
    assert "Task timed out after 1.00 seconds" in report["error"]
    assert "timed out" in report["diagnosis"]


def test_demo_runs_with_no_aws_variables(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, "-m", "s3gw.cli", "demo"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the seal holds" in done.stdout and "nothing of the stack is left" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no state left in the working directory
