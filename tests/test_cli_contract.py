"""The CLI contract for runbooks: the real executable with stdout piped, against moto's server.

Nothing wrapped or padded, `outputs` as key<TAB>value, one JSON document, global options before the command,
and an `up` report that says what it did.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REGION, S3GW_ENV, s3gw_command

# The longest stack name s3gw takes: its role ARN and function ARN run past 80 columns.
STACK = "a-stack-name-of-thirty-two-chars"


@pytest.fixture(scope="module")
def stack(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    state_dir = tmp_path_factory.mktemp("state")
    made = piped(moto_url, state_dir, "up")
    assert made.returncode == 0, made.stderr
    yield {"url": moto_url, "state_dir": state_dir, "up": made}
    assert piped(moto_url, state_dir, "down", "--yes").returncode == 0


def piped(url: str, state_dir: Path, *args: str, before: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """stdout and stderr are pipes; COLUMNS=40 would make any width-bound renderer wrap."""
    command = s3gw_command(*args, url=url, state_dir=state_dir, stack=STACK)
    command[1:1] = list(before)
    return subprocess.run(command, capture_output=True, text=True, env={**S3GW_ENV, "COLUMNS": "40"},
                          timeout=300, stdin=subprocess.DEVNULL)


def assert_unwrapped(text: str) -> None:
    for line in text.splitlines():
        assert line == line.rstrip(), f"padded: {line!r}"
    assert "\x1b[" not in text


def test_outputs_is_key_tab_value_and_awk_finds_every_subnet(stack: dict[str, object]) -> None:
    url, state_dir = str(stack["url"]), Path(str(stack["state_dir"]))
    listed = piped(url, state_dir, "outputs")
    assert listed.returncode == 0, listed.stderr
    assert_unwrapped(listed.stdout)
    rows = dict(line.split("\t") for line in listed.stdout.splitlines())
    subnets = rows["subnet_ids"].split(" ")
    assert len(subnets) == 3 and all(s.startswith("subnet-") for s in subnets)
    assert rows["role_arn"].endswith(f":role/{STACK}-lambda-role") and len(rows["role_arn"]) > 40
    awk = subprocess.run(["awk", '$1=="subnet_ids" {print NF-1}'], input=listed.stdout, capture_output=True,
                         text=True, check=True)
    assert awk.stdout.strip() == "3"
    bare = piped(url, state_dir, "outputs", "subnet_ids")
    assert bare.stdout == " ".join(subnets) + "\n"
    as_json = piped(url, state_dir, "outputs", "subnet_ids", "--output", "json")
    assert json.loads(as_json.stdout) == {"schema": 1, "key": "subnet_ids", "value": subnets}


def test_status_piped_keeps_each_arn_on_one_line(stack: dict[str, object]) -> None:
    url, state_dir = str(stack["url"]), Path(str(stack["state_dir"]))
    status = piped(url, state_dir, "status")
    assert status.returncode == 0, status.stderr
    assert_unwrapped(status.stdout + status.stderr)
    role_arn = piped(url, state_dir, "outputs", "role_arn").stdout.strip()
    assert any(role_arn in line for line in status.stdout.splitlines()), status.stdout
    assert status.stdout.splitlines()[-1] == "status: 8 ok, 0 drifted, 0 missing"


def test_global_options_before_the_command(stack: dict[str, object]) -> None:
    url, state_dir = str(stack["url"]), Path(str(stack["state_dir"]))
    command = ["s3gw", "--region", REGION, "--stack", STACK, "--state-dir", str(state_dir), "--endpoint-url", url,
               "--output", "json", "status"]
    before = subprocess.run(command, capture_output=True, text=True, env=S3GW_ENV, timeout=300)
    assert before.returncode == 0, before.stderr
    assert {s["action"] for s in json.loads(before.stdout)["steps"]} == {"ok"}
    # Given in both places, the one after the command wins.
    after = subprocess.run([*command, "--output", "text"], capture_output=True, text=True, env=S3GW_ENV, timeout=300)
    assert after.stdout.startswith(f"stack {STACK} in {REGION}\n"), after.stdout


def test_a_first_up_reports_what_it_created_never_a_repair(stack: dict[str, object]) -> None:
    made = stack["up"]
    assert isinstance(made, subprocess.CompletedProcess)
    assert_unwrapped(made.stdout + made.stderr)
    lines = made.stdout.splitlines()
    assert re.fullmatch(r"up: 8 created, 0 repaired, 0 unchanged in \d+\.\ds", lines[-1]), lines[-1]
    assert "repair" not in made.stderr and "repaired" not in "\n".join(lines[:-1])
    for drift_words in ("is missing", "is not fully on", "is off", "not sealed", "differs"):
        assert drift_words not in made.stdout + made.stderr
    text = made.stdout
    assert "cidr_block = 10.0.0.0/16" in text and "Block Public Access" not in text
    assert re.search(r"subnet subnet-\w+ = 10\.0\.0\.0/20 in eu-west-1a", text), text
    assert "block_public_access = all four on" in text and "aws:SourceVpce" in text


def test_up_again_reports_a_repair_with_what_was_wrong(stack: dict[str, object]) -> None:
    import boto3

    url, state_dir = str(stack["url"]), Path(str(stack["state_dir"]))
    group = piped(url, state_dir, "outputs", "security_group_id").stdout.strip()
    boto3.client("ec2", region_name=REGION, endpoint_url=url).authorize_security_group_egress(
        GroupId=group, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    again = piped(url, state_dir, "up")
    assert again.returncode == 0, again.stderr
    assert "~ security group: repaired " + group in again.stdout
    assert "    extra egress rule: all traffic to 0.0.0.0/0" in again.stdout
    assert re.fullmatch(r"up: 0 created, 1 repaired, 7 unchanged in \d+\.\ds", again.stdout.splitlines()[-1])


def test_every_json_output_is_one_document(stack: dict[str, object]) -> None:
    url, state_dir = str(stack["url"]), Path(str(stack["state_dir"]))
    for args in (("up",), ("plan",), ("status",), ("outputs",), ("outputs", "bucket"), ("verify",)):
        done = piped(url, state_dir, *args, "--output", "json")
        assert done.returncode == 0, (args, done.stderr)
        json.loads(done.stdout)  # exactly one document: anything after it would make this raise


def test_no_color_and_per_command_help() -> None:
    import click
    from click.testing import CliRunner

    from s3gw.cli import cli

    def every(group: click.Group, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
        for name, command in group.commands.items():
            yield [*path, name], command
            if isinstance(command, click.Group):
                yield from every(command, [*path, name])

    for path, command in every(cli, []):
        shown = CliRunner().invoke(cli, [*path, "--help"])
        assert shown.exit_code == 0 and "Example:" in shown.stdout and "s3gw " in shown.stdout, path
        if any(param.name == "no_color" for param in command.params):
            assert "--no-color" in shown.stdout, path


def test_down_asks_naming_each_resource_and_the_object_versions(stack: dict[str, object], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The prompt lists resources by kind and id (no internal keys) and the versions the bucket takes along."""
    import shutil

    from click.testing import CliRunner

    from s3gw import cli as cli_module

    url, state_dir = str(stack["url"]), Path(str(stack["state_dir"]))
    copy = tmp_path / "copy"
    shutil.copytree(state_dir, copy)  # answering "n" must leave everything as it was
    outputs = dict(line.split("\t") for line in piped(url, state_dir, "outputs").stdout.splitlines())
    import boto3

    s3 = boto3.client("s3", region_name=REGION, endpoint_url=url)
    s3.delete_bucket_policy(Bucket=outputs["bucket"])  # moto's own policy check would refuse the listing
    for key in ("a", "b"):
        s3.put_object(Bucket=outputs["bucket"], Key=key, Body=b"x")
    monkeypatch.setattr(cli_module, "_interactive", lambda: True)
    asked = CliRunner().invoke(cli_module.cli, ["down", "--stack", STACK, "--region", REGION, "--endpoint-url", url,
                                                "--state-dir", str(copy)], input="n\n")
    assert asked.exit_code == 5 and "Aborted" not in asked.output, asked.output  # declined: its own exit code
    prompt = asked.stderr
    assert f"Delete stack {STACK} in {REGION}:" in prompt
    assert f"  VPC {outputs['vpc_id']}" in prompt
    assert f"  private subnets {outputs['subnet_ids']}" in prompt
    assert f"  IAM role {outputs['role_name']}" in prompt and f"  bucket {outputs['bucket']}" in prompt
    assert "the bucket's 2 object versions and delete markers" in prompt
    for key in ("vpc_id", "subnet_ids", "prefix_list_id", "role_arn", "function_arn"):
        assert key not in prompt
    assert piped(url, state_dir, "status").returncode == 3  # the policy we removed; nothing else changed
    piped(url, state_dir, "up")


def test_shell_completion_as_the_readme_documents_it() -> None:
    env = {**S3GW_ENV, "COMP_WORDS": "s3gw pl", "COMP_CWORD": "1", "_S3GW_COMPLETE": "bash_complete"}
    done = subprocess.run(["s3gw"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and "plain,plan" in done.stdout.splitlines(), done.stdout + done.stderr
