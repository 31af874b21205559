"""`down` tells what it did (issue 26: 1, 2, 17; issue 20: 3, 13): what was already gone is reported as such, an
error on one resource does not stop the others, every retry honours --wait, and no state is not "nothing to
delete" while the stack's tagged resources are up. Also the call bound's words for a throttled call, and
CreateRouteTable's ClientToken."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from conftest import REGION, make_test_config
from fault_helpers import EMPTY, ONE_STACK, Crash, client_error, count_resources, on_every_client

from s3gw import commands
from s3gw.cli import cli

TITLES = ["Lambda function", "bucket", "S3 gateway endpoint", "route tables", "security group", "private subnets",
          "IAM role", "VPC"]


def quiet(message: str) -> None:
    pass


def run(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--stack", "t", "--region", REGION, "--state-dir", str(state_dir)])


def test_the_sandbox_answers_delete_of_a_gone_endpoint_as_ec2(mocked: None) -> None:
    """EC2 answers 200 with an Unsuccessful InvalidVpcEndpoint.NotFound item (moto_glue.answer_gone_endpoints_as_ec2
    cites the source); moto alone answers an empty list."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    endpoint = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3",
                                       VpcEndpointType="Gateway")["VpcEndpoint"]["VpcEndpointId"]
    assert ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])["Unsuccessful"] == []
    for gone in (endpoint, "vpce-0123456789abcdef0"):  # deleted already; never was
        [item] = ec2.delete_vpc_endpoints(VpcEndpointIds=[gone])["Unsuccessful"]
        assert item["ResourceId"] == gone and item["Error"]["Code"] == "InvalidVpcEndpoint.NotFound"


def test_an_endpoint_deleted_outside_is_already_gone_and_dropped(mocked: None, state_dir: Path) -> None:
    config = make_test_config(state_dir, azs=1)
    commands.up.up(config, quiet)
    endpoint = json.loads(config.state_path.read_text())["resources"]["endpoint_id"]
    boto3.client("ec2", region_name=REGION).delete_vpc_endpoints(VpcEndpointIds=[endpoint])

    report = commands.down.down(config, quiet, wait=60)

    assert report.complete, report
    assert report.already_gone == ["S3 gateway endpoint"], report
    assert "S3 gateway endpoint" not in report.deleted
    assert count_resources() == EMPTY and not config.state_path.exists()


def test_a_stale_copy_of_a_deleted_stacks_state_reports_already_gone(mocked: None, tmp_path: Path) -> None:
    assert run(tmp_path, "up").exit_code == 0
    stale = tmp_path / "copy.json"
    shutil.copy(tmp_path / "t.json", stale)
    first = run(tmp_path, "down", "--yes", "--output", "json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["deleted"] == TITLES and json.loads(first.stdout)["already_gone"] == []
    shutil.copy(stale, tmp_path / "t.json")

    again = run(tmp_path, "down", "--yes", "--output", "json")

    assert again.exit_code == 0, again.output
    document = json.loads(again.stdout)
    assert document["deleted"] == [] and document["already_gone"] == TITLES, document
    assert not (tmp_path / "t.json").exists()
    shutil.copy(stale, tmp_path / "t.json")
    text = run(tmp_path, "down", "--yes")
    assert text.exit_code == 0 and "deleted 0 (nothing), already gone 8 (Lambda function, bucket" in text.stdout


def test_down_without_state_while_the_stack_is_up_exits_1_naming_it(mocked: None, tmp_path: Path) -> None:
    assert run(tmp_path, "up").exit_code == 0
    vpc = json.loads((tmp_path / "t.json").read_text())["resources"]["vpc_id"]
    elsewhere = tmp_path / "elsewhere"

    down = run(elsewhere, "down", "--yes")

    assert down.exit_code == 1, down.output
    assert f"VPC {vpc}" in down.stderr and "--state-dir" in down.stderr and "--from-tags" in down.stderr
    assert count_resources() == ONE_STACK and not elsewhere.exists()  # read only: nothing deleted, nothing written
    assert run(tmp_path, "down", "--yes").exit_code == 0
    gone = run(elsewhere, "down", "--yes")
    assert gone.exit_code == 0 and "nothing to delete" in gone.stderr, gone.output


@pytest.mark.parametrize(("operation", "left"), [
    ("ec2.DeleteVpcEndpoints", {"endpoint_id", "route_table_ids", "vpc_id"}),  # and what waits for the endpoint
    ("iam.ListRolePolicies", {"role_name"}),  # an error no step translates (a read of the role's policies)
])
def test_an_unexpected_error_on_one_resource_does_not_stop_the_others(
        mocked: None, state_dir: Path, monkeypatch: pytest.MonkeyPatch, operation: str, left: set[str]) -> None:
    config = make_test_config(state_dir, azs=1)
    commands.up.up(config, quiet)

    def refuse(**_: Any) -> None:
        raise client_error("UnauthorizedOperation", "You are not authorized to perform this operation.",
                           operation.split(".")[1])

    on_every_client(monkeypatch, lambda client, service: client.meta.events.register(f"before-call.{operation}",
                                                                                      refuse))

    report = commands.down.down(config, quiet, wait=60)  # a report, not an exception that loses it

    assert not report.complete
    assert any("UnauthorizedOperation" in problem for problem in report.problems), report.problems
    assert set(report.left) == left, report
    kept = {"endpoint_id": "S3 gateway endpoint", "route_table_ids": "route tables", "vpc_id": "VPC",
            "role_name": "IAM role"}
    assert report.deleted == [title for title in TITLES if title not in {kept[key] for key in left}], report
    assert json.loads(config.state_path.read_text())["resources"].keys() >= left


def test_the_dependency_violation_retry_honours_wait(mocked: None, state_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_test_config(state_dir, azs=1)
    commands.up.up(config, quiet)
    tries: list[str] = []

    def in_use(**_: Any) -> None:
        tries.append("DeleteSecurityGroup")
        if len(tries) > 3:  # retried past --wait 0 (the 60 s floor): end the test now, not in a minute
            raise Crash("retried past --wait")
        raise client_error("DependencyViolation", "resource has a dependent object", "DeleteSecurityGroup")

    on_every_client(monkeypatch, lambda client, service: client.meta.events.register(
        "before-call.ec2.DeleteSecurityGroup", in_use))

    report = commands.down.down(config, quiet, wait=0)

    assert len(tries) <= 2, tries  # one try in each of the two passes (the first deleted the rest): no retry
    assert any("after 0s (DependencyViolation" in problem and "security group" in problem
               for problem in report.problems), report.problems
    assert set(report.left) == {"security_group_id", "vpc_id"}, report.left


def test_create_route_table_sends_one_client_token_on_every_try(mocked: None, state_dir: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A try that failed at the HTTP layer may have acted: the next try carries the same ClientToken, so that EC2
    answers with the table the first one made (botocore would give each call a new one)."""
    from botocore.exceptions import EndpointConnectionError

    tokens: list[str] = []

    def first_is_lost(params: dict[str, Any], **_: Any) -> None:
        tokens.append(params["body"].get("ClientToken", ""))
        if len(tokens) == 1:
            raise EndpointConnectionError(endpoint_url="https://ec2.eu-west-1.amazonaws.com")

    on_every_client(monkeypatch, lambda client, service: client.meta.events.register(
        "before-call.ec2.CreateRouteTable", first_is_lost))

    commands.up.up(make_test_config(state_dir, azs=1), quiet)

    assert len(tokens) == 2 and tokens[0] and tokens[0] == tokens[1], tokens


def test_a_call_throttled_until_its_bound_runs_out_says_throttled(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    from botocore.awsrequest import AWSResponse

    from s3gw.aws import Aws
    from s3gw.errors import NoAnswer

    monkeypatch.setenv("S3GW_CALL_TIMEOUT", "1")
    body = (b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
            b"</Message></Error></Errors><RequestID>r</RequestID></Response>")

    class Raw:
        def stream(self, **_: Any) -> Any:
            yield body

    def throttled(**_: Any) -> AWSResponse:
        return AWSResponse("https://ec2.eu-west-1.amazonaws.com", 503, {}, Raw())

    ec2 = Aws(make_test_config(tmp_path)).client("ec2", attempts=50)
    ec2.meta.events.register("before-send", throttled)
    with pytest.raises(NoAnswer) as stopped:
        ec2.describe_vpcs()
    line = stopped.value.error.line()
    assert "DescribeVpcs was throttled" in line and "RequestLimitExceeded" in line, line
    assert "does not reply" not in line
