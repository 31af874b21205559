"""The sandbox runs the function's real code through the emulated VPC path, under the bucket policy."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from sandbox_fixtures import Clients, Stack, build_stack, clients, https_to, invoke, make_zip

from s3gw.policy.documents import bucket_policy
from s3gw.sandbox import Behaviours, Sandbox

NETWORK_ERRORS = ("ConnectTimeoutError", "ReadTimeoutError")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(port=0, behaviours=Behaviours()) as running:
        yield running


@pytest.fixture(scope="module")
def aws(sandbox: Sandbox) -> Clients:
    return clients(sandbox.endpoint_url)


@pytest.fixture(scope="module")
def stack(aws: Clients) -> Stack:
    return build_stack(aws, "inv")


def _extra_function(aws: Clients, stack: Stack, name: str, code: str, timeout: int = 3) -> str:
    aws.lambda_.create_function(
        FunctionName=name, Runtime="python3.12", Role=stack.role_arn, Handler="handler.handler",
        Code={"ZipFile": make_zip({"handler.py": code})}, Timeout=timeout,
    )
    return name


def test_the_function_writes_and_lists_through_the_endpoint(aws: Clients, stack: Stack) -> None:
    result = invoke(aws, stack.function_name, {"put": {"key": "a.txt"}})
    assert result.status == 200
    assert result.function_error is None, result.payload
    assert result.payload["written"] == "a.txt"
    assert {"key": "a.txt", "size": len(b"written by s3gw")} in result.payload["objects"]
    assert result.version == "$LATEST"


def test_the_hosts_own_listing_is_denied(aws: Clients, stack: Stack) -> None:
    with pytest.raises(ClientError) as denied:
        aws.s3.list_objects_v2(Bucket=stack.bucket)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as put_denied:  # moto's own judge would refuse this too; ours says why
        aws.s3.put_object(Bucket=stack.bucket, Key="host.txt", Body=b"x")
    assert put_denied.value.response["Error"]["Code"] == "AccessDenied"


def test_the_host_may_still_manage_the_policy(aws: Clients, stack: Stack) -> None:
    """The policy never denies *BucketPolicy, and the host is not the function: GetBucketPolicy works."""
    policy = json.loads(aws.s3.get_bucket_policy(Bucket=stack.bucket)["Policy"])
    assert policy["Statement"][0]["Condition"]["StringNotEquals"]["aws:SourceVpce"] == stack.endpoint_id


def test_a_policy_naming_another_endpoint_denies_the_function(aws: Clients, stack: Stack) -> None:
    aws.s3.put_bucket_policy(Bucket=stack.bucket, Policy=json.dumps(bucket_policy(stack.bucket, "vpce-0other")))
    try:
        result = invoke(aws, stack.function_name)
    finally:
        aws.s3.put_bucket_policy(Bucket=stack.bucket, Policy=json.dumps(bucket_policy(stack.bucket, stack.endpoint_id)))
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] in ("ClientError", "AccessDenied")  # botocore names the class by code
    assert "AccessDenied" in result.payload["errorMessage"]
    assert invoke(aws, stack.function_name).function_error is None  # restored: allowed again


def test_no_policy_lets_the_host_list(aws: Clients, stack: Stack) -> None:
    """Our evaluator, not moto's, is the judge: without the policy the same host call passes."""
    aws.s3.delete_bucket_policy(Bucket=stack.bucket)
    try:
        listed = aws.s3.list_objects_v2(Bucket=stack.bucket)
    finally:
        aws.s3.put_bucket_policy(Bucket=stack.bucket, Policy=json.dumps(bucket_policy(stack.bucket, stack.endpoint_id)))
    assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_without_443_egress_the_connection_times_out(aws: Clients, stack: Stack) -> None:
    rule = [https_to(stack.prefix_list_id)]
    aws.ec2.revoke_security_group_egress(GroupId=stack.security_group_id, IpPermissions=rule)
    try:
        started = time.monotonic()
        result = invoke(aws, stack.function_name)
        elapsed = time.monotonic() - started
    finally:
        aws.ec2.authorize_security_group_egress(GroupId=stack.security_group_id, IpPermissions=rule)
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] in NETWORK_ERRORS, result.payload
    assert elapsed < 12  # the handler's 2 s connect timeout, well inside the function's own 15 s


def test_without_the_endpoint_route_the_connection_times_out(aws: Clients, stack: Stack) -> None:
    aws.ec2.modify_vpc_endpoint(VpcEndpointId=stack.endpoint_id, RemoveRouteTableIds=[stack.route_table_ids[1]])
    try:
        result = invoke(aws, stack.function_name)
    finally:
        aws.ec2.modify_vpc_endpoint(VpcEndpointId=stack.endpoint_id, AddRouteTableIds=[stack.route_table_ids[1]])
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] in NETWORK_ERRORS, result.payload
    assert invoke(aws, stack.function_name).function_error is None  # the table is back on the endpoint


def test_a_function_outside_any_vpc_has_no_source_vpce(aws: Clients, stack: Stack) -> None:
    """No VpcConfig: Lambda's internet path, which the Deny-unless-SourceVpce policy refuses."""
    aws.lambda_.create_function(
        FunctionName="inv-public", Runtime="python3.12", Role=stack.role_arn, Handler="handler.handler",
        Code={"ZipFile": make_zip({"handler.py": open_handler_source()})}, Timeout=15,
        Environment={"Variables": {"BUCKET_NAME": stack.bucket}},
    )
    result = invoke(aws, "inv-public")
    assert result.function_error == "Unhandled"
    assert "AccessDenied" in result.payload["errorMessage"]


def open_handler_source() -> str:
    from s3gw.package import HANDLER_DIR

    return (HANDLER_DIR / "handler.py").read_text()


def test_a_raising_handler_is_an_unhandled_function_error(aws: Clients, stack: Stack) -> None:
    code = (
        "def handler(event, context):\n"
        "    print('about to fail')\n"
        "    raise ValueError('boom: ' + context.function_name)\n"
    )
    name = _extra_function(aws, stack, "inv-raises", code)
    result = invoke(aws, name)
    assert result.status == 200
    assert result.function_error == "Unhandled"
    assert result.payload["errorType"] == "ValueError"
    assert result.payload["errorMessage"] == "boom: inv-raises"
    assert any("raise ValueError" in frame for frame in result.payload["stackTrace"])
    assert "about to fail" in result.log and "[ERROR] ValueError: boom: inv-raises" in result.log


def test_a_handler_past_its_timeout_is_killed(aws: Clients, stack: Stack) -> None:
    code = "import time\n\ndef handler(event, context):\n    time.sleep(30)\n"
    name = _extra_function(aws, stack, "inv-sleeps", code, timeout=1)
    started = time.monotonic()
    result = invoke(aws, name)
    assert time.monotonic() - started < 10
    assert result.function_error == "Unhandled"
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [0-9a-f-]{36} Task timed out after 1\.00 seconds"
    assert re.fullmatch(pattern, result.payload["errorMessage"]), result.payload
    assert "Task timed out after 1.00 seconds" in result.log


def test_log_tail_has_start_end_report(aws: Clients, stack: Stack) -> None:
    code = (
        "def handler(event, context):\n"
        "    print('hello', event['who'])\n"
        "    return {'remaining': context.get_remaining_time_in_millis() > 0}\n"
    )
    name = _extra_function(aws, stack, "inv-logs", code)
    result = invoke(aws, name, {"who": "world"})
    assert result.function_error is None and result.payload == {"remaining": True}
    lines = result.log.splitlines()
    request_id = re.fullmatch(r"START RequestId: ([0-9a-f-]{36}) Version: \$LATEST", lines[0])
    assert request_id, lines[0]
    assert "hello world" in lines
    assert f"END RequestId: {request_id[1]}" in lines
    assert any(line.startswith(f"REPORT RequestId: {request_id[1]}\tDuration: ") for line in lines)


def test_dry_run_and_event_invocations(aws: Clients, stack: Stack) -> None:
    dry = aws.lambda_.invoke(FunctionName=stack.function_name, InvocationType="DryRun")
    assert dry["StatusCode"] == 204
    queued = aws.lambda_.invoke(FunctionName=stack.function_name, InvocationType="Event",
                                Payload=json.dumps({"put": {"key": "queued.txt"}}))
    assert queued["StatusCode"] == 202
    deadline = time.monotonic() + 20
    keys: list[str] = []
    while time.monotonic() < deadline and "queued.txt" not in keys:  # the background run writes the key
        time.sleep(0.3)
        keys = [o["key"] for o in invoke(aws, stack.function_name).payload["objects"]]
    assert "queued.txt" in keys


def test_invoking_a_missing_function_is_resource_not_found(aws: Clients) -> None:
    with pytest.raises(ClientError) as missing:
        aws.lambda_.invoke(FunctionName="no-such-function", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "no-such-function" in missing.value.response["Error"]["Message"]


def test_get_function_reports_the_real_vpc(aws: Clients, stack: Stack) -> None:
    config = aws.lambda_.get_function_configuration(FunctionName=stack.function_name)
    assert config["VpcConfig"]["VpcId"] == stack.vpc_id  # moto alone says "vpc-123abc"
    assert config["State"] == "Active"


_COUNTING = (
    "import os\nimport time\n\nCOUNT = 0\n\n"
    "def handler(event, context):\n"
    "    global COUNT\n"
    "    COUNT += 1\n"
    "    time.sleep(event.get('sleep', 0))\n"
    "    return {'count': COUNT, 'pid': os.getpid(), 'greeting': os.environ.get('GREETING'),\n"
    "            'request_id': context.aws_request_id, 'key': os.environ['AWS_ACCESS_KEY_ID']}\n"
)


def test_an_environment_is_reused_until_its_configuration_changes_or_it_times_out(
        aws: Clients, stack: Stack) -> None:
    """invoke.py: Lambda thaws an idle environment for the next invocation (init runs once), and resets one
    that timed out; new configuration means new environments."""
    name = _extra_function(aws, stack, "inv-warm", _COUNTING, timeout=1)
    first, second = invoke(aws, name), invoke(aws, name)
    assert (first.payload["count"], second.payload["count"]) == (1, 2)
    assert first.payload["pid"] == second.payload["pid"] and first.payload["key"] == second.payload["key"]
    assert first.payload["request_id"] != second.payload["request_id"]
    assert "Init Duration" in first.log and "Init Duration" not in second.log
    assert f"START RequestId: {second.payload['request_id']}" in second.log.splitlines()[0]

    aws.lambda_.update_function_configuration(FunctionName=name, Environment={"Variables": {"GREETING": "hi"}})
    changed = invoke(aws, name)
    assert (changed.payload["count"], changed.payload["greeting"]) == (1, "hi")
    assert changed.payload["pid"] != second.payload["pid"]

    timed_out = invoke(aws, name, {"sleep": 5})
    assert "Task timed out after 1.00 seconds" in timed_out.log
    after = invoke(aws, name)
    assert after.payload["count"] == 1 and "Init Duration" in after.log


def test_functions_do_not_share_environments(aws: Clients, stack: Stack) -> None:
    one = _extra_function(aws, stack, "inv-one", _COUNTING)
    other = _extra_function(aws, stack, "inv-other", _COUNTING)
    assert invoke(aws, one).payload["count"] == 1
    answer = invoke(aws, other).payload
    assert answer["count"] == 1 and answer["key"] != invoke(aws, one).payload["key"]


def test_a_failed_init_is_not_reused(aws: Clients, stack: Stack) -> None:
    code = "COUNT = 0\nraise RuntimeError('init broke')\n\ndef handler(event, context):\n    return 1\n"
    name = _extra_function(aws, stack, "inv-init-fails", code)
    for _ in range(2):
        result = invoke(aws, name)
        assert result.function_error == "Unhandled"
        assert result.payload["errorType"] == "Runtime.ImportModuleError", result.payload
        assert "init broke" in result.payload["errorMessage"] and "Init Duration" in result.log


def test_a_runtime_that_exits_is_reported_and_replaced(aws: Clients, stack: Stack) -> None:
    code = _COUNTING.replace("    time.sleep(event.get('sleep', 0))\n",
                             "    time.sleep(event.get('sleep', 0))\n    if event.get('exit'):\n"
                             "        print('leaving', flush=True)\n        os._exit(3)\n")
    name = _extra_function(aws, stack, "inv-exits", code)
    assert invoke(aws, name).payload["count"] == 1
    crashed = invoke(aws, name, {"exit": True})
    assert crashed.function_error == "Unhandled" and crashed.payload["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in crashed.payload["errorMessage"] and "leaving" in crashed.log
    after = invoke(aws, name)
    assert after.payload["count"] == 1 and "Init Duration" in after.log


def test_a_handler_and_its_children_read_an_empty_stdin(aws: Clients, stack: Stack) -> None:
    """The reused runner takes its invocations on its stdin; the handler must not see (or eat) them."""
    code = ("import subprocess\nimport sys\n\ndef handler(event, context):\n"
            "    child = subprocess.run(['cat'], capture_output=True, timeout=2).stdout\n"
            "    return {'own': sys.stdin.read(), 'child': child.decode()}\n")
    name = _extra_function(aws, stack, "inv-stdin", code)
    for _ in range(2):
        assert invoke(aws, name).payload == {"own": "", "child": ""}
