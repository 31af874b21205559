"""Issue 26 item 12: the path, drawn. `status --graph` and `verify --graph` draw function → subnets → route tables →
endpoint → bucket, each hop ok / drifted / broken with its fix; `--format mermaid` prints the same as a Mermaid
flowchart; `--output json` carries it as a "graph" object."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from s3gw.cli import cli
from s3gw.commands.reports import StackReport, StepReport
from s3gw.pathgraph import BROKEN, DRIFTED, OK, PATH, Node, from_status, from_verify, mermaid, text_lines
from s3gw.reach import Link
from s3gw.render import Renderer
from s3gw.verify import VerifyReport

REGION = "eu-west-1"


def status_report() -> StackReport:
    steps = [
        StepReport("VPC", "ok", {"vpc_id": "vpc-1"}),
        StepReport("private subnets", "ok", {"subnet_ids": ["subnet-1", "subnet-2"]}),
        StepReport("route tables", "ok", {"route_table_ids": ["rtb-1", "rtb-2"]}),
        StepReport("S3 gateway endpoint", "drift", {"endpoint_id": "vpce-1", "prefix_list_id": "pl-1"},
                   ["route table rtb-1 has no route to S3 through the endpoint"]),
        StepReport("bucket", "missing"),
        StepReport("security group", "ok", {"security_group_id": "sg-1"}),
        StepReport("IAM role", "ok", {"role_name": "r", "role_arn": "arn:aws:iam::123456789012:role/r"}),
        StepReport("Lambda function", "ok", {"function_name": "f", "function_arn": "arn:aws:lambda:x"}),
    ]
    return StackReport("t", REGION, steps, {"bucket": "b", "endpoint_id": "vpce-1"})


def hops(root: Node) -> list[Node]:
    """The path's hops, following the last child (the next hop) from the function down."""
    chain = [root]
    while chain[-1].children:
        chain.append(chain[-1].children[-1])
    return chain


def test_status_findings_become_the_path_each_hop_marked_with_its_fix() -> None:
    root = from_status(status_report())
    chain = hops(root)
    assert [node.key for node in chain] == list(PATH)
    function, subnets, tables, endpoint, bucket = chain
    assert function.ids == ["f"] and [c.key for c in function.children] == ["security_group", "role", "subnets"]
    assert subnets.ids == ["subnet-1", "subnet-2"] and subnets.children[0].ids == ["vpc-1"]
    assert (endpoint.state, endpoint.ids) == (DRIFTED, ["vpce-1"])
    assert endpoint.notes == ["route table rtb-1 has no route to S3 through the endpoint"]
    assert "s3gw up" in endpoint.fix
    assert (bucket.state, bucket.ids) == (BROKEN, ["b"]) and "s3gw up" in bucket.fix  # recorded, and missing
    assert tables.state == OK and not tables.fix
    lines = text_lines(root)
    assert lines[0] == "✓ Lambda function f: ok"
    assert "      └─ ~ S3 gateway endpoint vpce-1: drifted" in lines
    assert "         │  fix: run 's3gw up' (it repairs this)" in lines
    assert lines[-2:] == ["         └─ ✗ bucket b: broken", "               fix: run 's3gw up' (it makes it again)"]


def test_verify_links_fall_under_their_hop() -> None:
    checks = [
        Link("function", True, "f is Active, in 2 subnet(s) behind sg-1"),
        Link("security groups: egress 443", True, "sg-1 allow TCP 443 to pl-1"),
        Link("subnet-1: route table", True, "rtb-1 (explicit association)"),
        Link("subnet-1: route to S3", False, "rtb-1 has no route to the S3 prefix list", "route rtb-1 through it"),
        Link("subnet-2: route table", True, "rtb-2 (explicit association)"),
        Link("subnet-2: route to S3", True, "rtb-2: pl-1 → vpce-1 (Gateway, com.amazonaws.eu-west-1.s3)"),
        Link("endpoint exists", True, "vpce-1 in vpc-1"),
        Link("seal: list", False, "s3:ListBucket from outside the endpoint is not denied", "seal it"),
        Link("role manages ENIs", True, "r may create, describe and delete network interfaces"),
    ]
    root = from_verify(VerifyReport("f", "b", "vpce-1", checks))
    function, subnets, tables, endpoint, bucket = hops(root)
    assert [c.key for c in function.children] == ["security_group", "role", "subnets"]
    assert function.children[0].ids == ["sg-1"] and function.children[1].ids == ["r"]
    assert subnets.ids == ["subnet-1", "subnet-2"] and subnets.state == OK
    assert tables.ids == ["rtb-1", "rtb-2"] and tables.state == BROKEN and tables.fix == "route rtb-1 through it"
    assert tables.notes == ["subnet-1: route to S3: rtb-1 has no route to the S3 prefix list"]
    assert endpoint.state == OK and (bucket.state, bucket.fix) == (BROKEN, "seal it")


def test_mermaid_draws_the_same_path() -> None:
    chart = mermaid(from_status(status_report()))
    lines = chart.splitlines()
    assert lines[0] == "flowchart LR"
    for edge in ("function --> subnets", "subnets --> route_tables", "route_tables --> endpoint",
                 "endpoint --> bucket", "function -.- security_group", "subnets -.- vpc"):
        assert f"    {edge}" in lines
    endpoint = next(line for line in lines if line.lstrip().startswith("endpoint["))
    assert endpoint.endswith(":::drifted") and "<br/>fix: run 's3gw up' (it repairs this)" in endpoint
    assert "classDef broken" in chart
    odd = Node("bucket", "bucket", ['a"b<c>'])
    assert '["bucket a#quot;b#lt;c#gt;<br/>✓ ok"]' in mermaid(odd)


def test_a_terminal_gets_a_rich_tree_and_a_pipe_plain_lines(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    report = status_report()
    renderer = Renderer("text")
    screen = io.StringIO()
    renderer.out = Console(file=screen, force_terminal=True, width=200, soft_wrap=True)
    renderer.path_graph(report, from_status(report), "tree", "status: 6 ok, 1 drifted, 1 missing")
    drawn = screen.getvalue()
    assert "\x1b[" in drawn and "S3 gateway endpoint" in drawn and "└──" in drawn  # rich's guides, in colour
    plain = Renderer("text", color=False)
    plain.path_graph(report, from_status(report), "tree", "status: 6 ok, 1 drifted, 1 missing")
    out = capsys.readouterr().out
    assert "\x1b[" not in out and out.splitlines() == [*text_lines(from_status(report)),
                                                         "status: 6 ok, 1 drifted, 1 missing"]


def s3gw(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--stack", "g", "--region", REGION, "--state-dir", str(tmp_path)])


def test_status_and_verify_draw_the_stack(mocked: None, tmp_path: Path) -> None:
    assert s3gw(tmp_path, "up", "--azs", "2").exit_code == 0
    healthy = s3gw(tmp_path, "status", "--graph")
    assert healthy.exit_code == 0, healthy.output
    assert healthy.stdout.splitlines()[1].startswith("✓ Lambda function g-lister: ok")
    assert healthy.stdout.splitlines()[-1] == "status: 8 ok, 0 drifted, 0 missing"

    resources = json.loads((tmp_path / "g.json").read_text())["resources"]
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.modify_vpc_endpoint(VpcEndpointId=resources["endpoint_id"],
                            RemoveRouteTableIds=[resources["route_table_ids"][0]])
    drifted = s3gw(tmp_path, "status", "--graph")
    assert drifted.exit_code == 3
    assert f"~ S3 gateway endpoint {resources['endpoint_id']}: drifted" in drifted.stdout
    assert "fix: run 's3gw up' (it repairs this)" in drifted.stdout
    broken = s3gw(tmp_path, "verify", "--graph")
    assert broken.exit_code == 3
    assert f"✗ route tables {' '.join(resources['route_table_ids'])}: broken" in broken.stdout
    chart = s3gw(tmp_path, "verify", "--format", "mermaid")
    assert chart.exit_code == 3 and chart.stdout.startswith("flowchart LR\n") and ":::broken" in chart.stdout
    document = json.loads(s3gw(tmp_path, "status", "--graph", "--output", "json").stdout)
    assert document["steps"] and document["graph"]["key"] == "function"
    assert _states(document["graph"])["endpoint"] == DRIFTED


def _states(graph: dict) -> dict[str, str]:  # type: ignore[type-arg]
    states = {graph["key"]: graph["state"]}
    for child in graph["children"]:
        states.update(_states(child))
    return states
