"""`down` on the in-process sandbox, where Lambda's ENIs linger as on AWS: after `up` is killed right after any
of its creates (the id not yet recorded), `down` alone leaves nothing; it touches nothing that is not the
stack's; and it waits, showing what blocks, while the ENIs linger.

Everything is counted by listing the whole emulator (fault_helpers.count_resources): VPCs, subnets, route
tables, endpoints and security groups whatever their VPC, roles, functions, buckets and network interfaces.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from fault_helpers import EMPTY, REGION, Crash, Injector, count_resources, on_every_client, share_botocore_loader
from sandbox_fixtures import create_role, make_zip

from s3gw import commands
from s3gw.cli import cli
from s3gw.config import make_config
from s3gw.run import open_context
from s3gw.sandbox import Behaviours, Sandbox

LINGER = 0.4  # seconds Lambda's ENIs stay in use once no function uses them (AWS: ~20-35 min)
# Every kind of resource `up` creates, in its order (one AZ: one subnet, one route table).
CREATES = ["CreateVpc", "CreateSubnet", "CreateRouteTable", "CreateVpcEndpoint", "CreateBucket",
           "CreateSecurityGroup", "CreateRole", "CreateFunction"]
# The state key each create records right after it; the crash comes before that.
RECORDS = {"CreateVpc": "vpc_id", "CreateSubnet": "subnet_ids", "CreateRouteTable": "route_table_ids",
           "CreateVpcEndpoint": "endpoint_id", "CreateBucket": "bucket", "CreateSecurityGroup": "security_group_id",
           "CreateRole": "role_name", "CreateFunction": "function_name"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with pytest.MonkeyPatch.context() as patch:
        share_botocore_loader(patch)
        with Sandbox(port=0, behaviours=Behaviours(eni_linger=LINGER)) as running:
            yield running


@pytest.fixture
def url(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> str:
    """The sandbox, empty; s3gw's waits poll every 0.05 s at most (the bound stays real time)."""
    assert count_resources(sandbox.endpoint_url) == EMPTY, "an earlier case left something behind"
    opened = open_context

    def context(*args: Any, **kwargs: Any) -> Any:
        ctx = opened(*args, **kwargs)
        ctx.sleep = lambda seconds: time.sleep(min(seconds, 0.05))
        return ctx

    monkeypatch.setattr("s3gw.run.open_context", context)
    return sandbox.endpoint_url


def config(url: str, state_dir: Path, stack: str, **options: Any) -> Any:
    return make_config(stack=stack, region=REGION, endpoint_url=url, state_dir=state_dir, azs=1, **options)


@pytest.mark.parametrize("create", CREATES)
def test_up_killed_after_any_create_then_down_leaves_nothing(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             create: str) -> None:
    injector = Injector()
    on_every_client(monkeypatch, lambda client, service: (client.meta.events.register("before-call", injector.before),
                                                          client.meta.events.register("after-call", injector.after)))
    stack = f"k{CREATES.index(create)}"
    injector.arm(at_name=create, when="after")  # AWS made it; s3gw dies before recording the id
    with pytest.raises(Crash):
        commands.up.up(config(url, tmp_path, stack), lambda message: None)
    assert injector.crashed_at == create
    recorded = json.loads((tmp_path / f"{stack}.json").read_text())["resources"]
    assert RECORDS[create] not in recorded
    assert count_resources(url) != EMPTY
    if create == "CreateFunction":
        assert count_resources(url)["enis"] == 1  # Lambda's ENI, in use

    said: list[str] = []
    report = commands.down.down(config(url, tmp_path, stack), said.append)  # no `up` in between
    assert report.complete, (report.left, report.problems)
    assert count_resources(url) == EMPTY
    assert not (tmp_path / f"{stack}.json").exists()
    if create == "CreateFunction":
        assert any(line.startswith("taking k7-lister out of the VPC") for line in said)
        assert any(line.startswith("deleted Lambda ENI eni-") for line in said)  # s3gw, not AWS, deleted it


def test_other_lambda_enis_and_functions_are_never_touched(url: str, tmp_path: Path) -> None:
    """A function whose name starts with the stack's function name, in another VPC, and a hand-made ENI there
    described exactly as the stack's ENI: `down` touches neither (it matches its security group and VPC)."""
    assert commands.up.up(config(url, tmp_path, "share"), lambda message: None)
    ec2, lam = (boto3.client(s, region_name=REGION, endpoint_url=url) for s in ("ec2", "lambda"))
    ours = [e for e in ec2.describe_network_interfaces()["NetworkInterfaces"]]
    assert [(e["Description"], e["InterfaceType"], e["RequesterManaged"], e["Status"]) for e in ours] == [
        ("AWS Lambda VPC ENI-share-lister", "lambda", True, "in-use")]  # as AWS names it: no suffix

    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.0.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="other", Description="other", VpcId=vpc)["GroupId"]
    aws = type("Clients", (), {"iam": boto3.client("iam", region_name=REGION, endpoint_url=url)})
    role_arn = create_role(aws, "other-role", "any-bucket")  # type: ignore[arg-type]
    lam.create_function(FunctionName="share-lister-v2", Runtime="python3.12", Role=role_arn, Handler="h.h",
                        Code={"ZipFile": make_zip({"h.py": "def h(e, c):\n    return 1\n"})},
                        VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [group]})
    hand_made = ec2.create_network_interface(SubnetId=subnet, Groups=[group],
                                             Description="AWS Lambda VPC ENI-share-lister")["NetworkInterface"]
    assert hand_made["Status"] == "available"
    others = {e["NetworkInterfaceId"] for e in ec2.describe_network_interfaces()["NetworkInterfaces"]
              if e["VpcId"] == vpc}
    assert len(others) == 2

    report = commands.down.down(config(url, tmp_path, "share"), lambda message: None)
    assert report.complete, report.problems
    assert lam.get_function(FunctionName="share-lister-v2")["Configuration"]["VpcConfig"]["SubnetIds"] == [subnet]
    assert {e["NetworkInterfaceId"] for e in ec2.describe_network_interfaces()["NetworkInterfaces"]} == others
    # clean up for the next case
    lam.delete_function(FunctionName="share-lister-v2")
    for eni in ec2.describe_network_interfaces()["NetworkInterfaces"]:
        if eni["Status"] == "available":
            ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    time.sleep(LINGER + 0.1)
    for eni in ec2.describe_network_interfaces()["NetworkInterfaces"]:
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_security_group(GroupId=group)
    ec2.delete_vpc(VpcId=vpc)
    iam = boto3.client("iam", region_name=REGION, endpoint_url=url)
    for policy in iam.list_attached_role_policies(RoleName="other-role")["AttachedPolicies"]:
        iam.detach_role_policy(RoleName="other-role", PolicyArn=policy["PolicyArn"])
    iam.delete_role_policy(RoleName="other-role", PolicyName="bucket")
    iam.delete_role(RoleName="other-role")
    assert count_resources(url) == EMPTY


def test_a_function_sharing_the_stacks_eni_keeps_it_in_use_and_down_says_so(url: str, tmp_path: Path) -> None:
    """Another function in the stack's subnet and security group shares its Hyperplane ENI (AWS reuses one per
    subnet + group): the ENI stays in use after the stack's function goes, so `down` keeps the group, subnets,
    role and VPC, exits non-zero and says why; the other function is not touched."""
    assert commands.up.up(config(url, tmp_path, "twin"), lambda message: None)
    outputs = commands.inspect.recorded_outputs(config(url, tmp_path, "twin"))
    lam = boto3.client("lambda", region_name=REGION, endpoint_url=url)
    lam.create_function(FunctionName="twin-lister-v2", Runtime="python3.12", Role=outputs["role_arn"], Handler="h.h",
                        Code={"ZipFile": make_zip({"h.py": "def h(e, c):\n    return 1\n"})},
                        VpcConfig={"SubnetIds": outputs["subnet_ids"],
                                   "SecurityGroupIds": [outputs["security_group_id"]]})
    assert count_resources(url)["enis"] == 1  # shared, still named after the first function

    report = commands.down.down(config(url, tmp_path, "twin"), lambda message: None, wait=0.5)
    assert not report.complete
    assert set(report.left) == {"security_group_id", "subnet_ids", "role_name", "vpc_id"}
    assert any("1 Lambda ENI in use" in problem for problem in report.problems)
    assert lam.get_function(FunctionName="twin-lister-v2")

    lam.delete_function(FunctionName="twin-lister-v2")  # the ENI is released now: `down` finishes
    again = commands.down.down(config(url, tmp_path, "twin"), lambda message: None)
    assert again.complete, again.problems
    assert count_resources(url) == EMPTY


def test_down_waits_with_a_line_every_30_s_without_a_terminal(url: str, tmp_path: Path, sandbox: Sandbox) -> None:
    """The real CLI, stderr not a terminal: the wait is shown as plain lines with the elapsed time."""
    assert commands.up.up(config(url, tmp_path, "show"), lambda message: None)
    sandbox.behaviours = Behaviours(eni_linger=3.0)  # long enough to be still in use when `down` first looks
    down = CliRunner().invoke(cli, ["down", "--yes", "--stack", "show", "--region", REGION, "--endpoint-url", url,
                                    "--state-dir", str(tmp_path)])
    assert down.exit_code == 0, down.output
    waits = [line for line in down.stderr.splitlines() if line.startswith("waiting ")]
    assert waits and waits[0].startswith("waiting 0s (up to 45m00s): 1 Lambda ENI in use (eni-")
    assert len(waits) == 1  # the next line is due 30 s later; the ENI went well before
    assert "no Lambda ENIs in use" not in down.stderr and "Lambda ENIs: none left" in down.stderr
    assert count_resources(url) == EMPTY
    sandbox.behaviours = Behaviours(eni_linger=LINGER)


def test_on_a_terminal_the_wait_is_one_live_line() -> None:
    """With a terminal, a rich Status line is updated in place (elapsed time and what blocks) and ended."""
    import io

    from rich.console import Console

    from s3gw.render import Renderer
    from s3gw.steps.base import Waiting

    renderer = Renderer("text")
    screen = io.StringIO()
    renderer.err = Console(file=screen, force_terminal=True, width=120)
    live = renderer.live_line()
    assert live is not None
    said: list[str] = []
    ctx = type("Ctx", (), {"delete_wait": 2700.0, "wait_deadline": None, "live": staticmethod(live),
                           "progress_every": 30.0, "progress": staticmethod(said.append)})()
    waiting = Waiting(ctx)  # type: ignore[arg-type]
    waiting.show("2 Lambda ENI(s) in use (eni-1, eni-2)")
    waiting.show("1 Lambda ENI(s) in use (eni-2)")
    waiting.done()
    assert said == []  # nothing printed as lines: the status line carries it
    assert ("still waiting for Lambda's network interfaces to go… [0s elapsed, up to 45m00s]: 1 Lambda ENI(s) in use "
            "(eni-2)") in screen.getvalue()
    plain = Renderer("text")
    plain.err = Console(file=io.StringIO(), force_terminal=False)
    assert plain.live_line() is None  # not a terminal: plain lines every 30 s instead
