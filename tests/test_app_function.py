"""Issue 21: your function on the private path. `up --code DIR --handler app.handler` deploys the user's code beside
the probe; `invoke` runs it (it lists the bucket through the endpoint); an edit is uploaded once, an unchanged `up`
uploads nothing; `logs` reads its log group; `down` deletes it and its role. The zip is deterministic.

On the sandbox, in this process (sandbox_url, call_log: conftest)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sandbox_fixtures import s3gw_on

from s3gw import package
from s3gw.errors import UsageError

HANDLER = '''import os

import boto3


def handler(event, context):
    bucket = event.get("bucket") or os.environ["BUCKET_NAME"]
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
    print("app listed", len(keys), "keys")
    return {"marker": "MARKER", "keys": keys, "greeting": os.environ.get("GREETING")}
'''


def write_app(directory: Path, marker: str) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / "app.py").write_text(HANDLER.replace("MARKER", marker))
    return directory


def state(state_dir: Path, stack: str) -> dict[str, Any]:
    return dict(json.loads((state_dir / f"{stack}.json").read_text()))


# --- the zip ------------------------------------------------------------------------------------------------------


def test_a_directory_zips_to_the_same_bytes_whatever_its_timestamps(tmp_path: Path) -> None:
    code = write_app(tmp_path / "code", "m")
    (code / "vendored").mkdir()
    (code / "vendored" / "__init__.py").write_text("X = 1\n")
    (code / "run.sh").write_text("#!/bin/sh\n")
    (code / "run.sh").chmod(0o755)
    for leftout in ("__pycache__", ".git", ".s3gw"):
        (code / leftout).mkdir()
        (code / leftout / "junk").write_text("junk")
    (code / "data").mkdir()
    (code / "data" / "big.csv").write_text("1,2\n")
    (code / "notes.md").write_text("notes")
    (code / ".s3gwignore").write_text("# not shipped\ndata/*.csv\n*.md\n\n")
    first = package.zip_directory(code)
    os.utime(code / "app.py", (1, 1))
    (code / "vendored" / "__init__.py").touch()
    assert package.zip_directory(code) == first
    with zipfile.ZipFile(__import__("io").BytesIO(first)) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["app.py", "run.sh", "vendored/__init__.py"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert [i.external_attr >> 16 for i in infos] == [0o644, 0o755, 0o644]


def test_a_zip_is_used_as_it_is_and_a_too_big_one_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "code.zip"
    archive.write_bytes(package.zip_directory(write_app(tmp_path / "code", "m")) + b"")
    assert package.user_code(archive) == archive.read_bytes()
    monkeypatch.setattr(package, "MAX_DIRECT_UPLOAD", 10)
    with pytest.raises(UsageError) as refused:
        package.user_code(archive)
    assert "over Lambda's 50 MB limit for a direct upload" in refused.value.line()
    assert ".s3gwignore" in refused.value.line()


# --- on the sandbox -------------------------------------------------------------------------------------------------


def test_your_code_is_deployed_invoked_updated_once_and_logged(sandbox_url: str, tmp_path: Path,
                                                               call_log: Any) -> None:
    state_dir, stack = tmp_path / "state", "app1"
    code = write_app(tmp_path / "code", "first")

    def s3gw(*args: str) -> Any:
        return s3gw_on(sandbox_url, state_dir, stack, *args)

    made = s3gw("up", "--azs", "1", "--code", str(code), "--handler", "app.handler", "--env", "GREETING=hi",
                "--timeout", "20")
    assert made.exit_code == 0, made.stderr
    recorded = state(state_dir, stack)
    assert recorded["resources"]["app_function_name"] == f"{stack}-app"
    assert recorded["settings"]["handler"] == "app.handler" and recorded["settings"]["env"] == [["GREETING", "hi"]]
    # an object, written through the endpoint by the probe: the user's function must list it the same way
    assert s3gw("test-invoke", "--put", "from-the-probe.txt").exit_code == 0

    invoked = s3gw("invoke")
    assert invoked.exit_code == 0, invoked.stderr
    answer = json.loads(invoked.stdout)
    assert answer == {"marker": "first", "keys": ["from-the-probe.txt"], "greeting": "hi"}
    assert "app listed 1 keys" in invoked.stderr  # the log tail

    logged = s3gw("logs", "--since", "1h")
    assert logged.exit_code == 0, logged.stderr
    assert "app listed 1 keys" in logged.stdout

    write_app(code, "second")
    planned = s3gw("plan")
    assert "the deployed code differs from --code: CodeSha256" in planned.stdout
    del call_log.calls[:]
    assert s3gw("up").exit_code == 0
    assert call_log.mutating.count("UpdateFunctionCode") == 1
    assert json.loads(s3gw("invoke").stdout)["marker"] == "second"

    del call_log.calls[:]
    again = s3gw("up")
    assert again.exit_code == 0, again.stderr
    assert "UpdateFunctionCode" not in call_log.calls and call_log.mutating == []

    verified = s3gw("verify")
    assert verified.exit_code == 0, verified.stdout
    assert f"{stack}-app: role reaches the bucket" in verified.stdout
    assert f"{stack}-app: seal lets it through" in verified.stdout
    import boto3

    iam = boto3.client("iam", region_name="eu-west-1", endpoint_url=sandbox_url, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    iam.delete_role_policy(RoleName=f"{stack}-app-role", PolicyName="s3gw-bucket-access")
    broken = s3gw("verify")
    assert broken.exit_code == 3
    assert f"{stack}-app-role is not allowed s3:ListBucket" in broken.stdout  # the app's role, the probe's is fine
    assert s3gw("up").exit_code == 0 and s3gw("verify").exit_code == 0

    gone = s3gw("down", "--yes")
    assert gone.exit_code == 0, gone.stderr
    assert "your Lambda function" in gone.stdout and "IAM role of your function" in gone.stdout
    assert not (state_dir / f"{stack}.json").exists()


def test_a_raising_handler_exits_3_with_its_error_in_one_line(sandbox_url: str, tmp_path: Path) -> None:
    state_dir, stack = tmp_path / "state", "app2"
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    raise ValueError('no ' + event['what'])\n")
    assert s3gw_on(sandbox_url, state_dir, stack, "up", "--azs", "1", "--code", str(code), "--handler",
                   "app.handler").exit_code == 0
    event = tmp_path / "event.json"
    event.write_text('{"what": "luck"}')
    failed = s3gw_on(sandbox_url, state_dir, stack, "invoke", "--payload", f"@{event}")
    assert failed.exit_code == 3
    assert failed.stderr.strip().splitlines()[-1] == f"error: function {stack}-app failed: ValueError: no luck"
    bad = s3gw_on(sandbox_url, state_dir, stack, "invoke", "--payload", "{not json")
    assert bad.exit_code == 2 and "--payload is not JSON" in bad.stderr
    assert s3gw_on(sandbox_url, state_dir, stack, "down", "--yes").exit_code == 0


def test_a_node_function_deploys_and_the_sandbox_says_it_runs_python_only(sandbox_url: str, tmp_path: Path) -> None:
    state_dir, stack = tmp_path / "state", "app3"
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.mjs").write_text("export const handler = async () => ({ok: true});\n")
    made = s3gw_on(sandbox_url, state_dir, stack, "up", "--azs", "1", "--code", str(code), "--handler",
                   "index.handler", "--runtime", "nodejs20.x")
    assert made.exit_code == 0, made.stderr
    invoked = s3gw_on(sandbox_url, state_dir, stack, "invoke")
    assert invoked.exit_code == 1
    lines = invoked.stderr.strip().splitlines()
    assert len(lines) == 1 and "the sandbox runs Python handlers only" in lines[0] and "nodejs20.x" in lines[0]
    assert s3gw_on(sandbox_url, state_dir, stack, "down", "--yes").exit_code == 0


def test_a_zip_over_the_limit_is_refused_before_anything_changes(sandbox_url: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 call_log: Any) -> None:
    monkeypatch.setattr(package, "MAX_DIRECT_UPLOAD", 64)
    refused = s3gw_on(sandbox_url, tmp_path / "state", "app4", "up", "--code", str(write_app(tmp_path / "c", "m")),
                      "--handler", "app.handler")
    assert refused.exit_code == 2
    assert len(refused.stderr.strip().splitlines()) == 1 and "50 MB limit" in refused.stderr
    assert call_log.mutating == [] and not (tmp_path / "state" / "app4.json").exists()


@pytest.mark.parametrize(("args", "says"), [
    (("--code", "."), "--code needs --handler"),
    (("--handler", "app.handler"), "give --code PATH too"),
    (("--code", ".", "--handler", "nodot"), "invalid --handler"),
    (("--code", ".", "--handler", "a.b", "--env", "BUCKET_NAME=x"), "BUCKET_NAME is s3gw's"),
    (("--code", ".", "--handler", "a.b", "--memory", "64"), "--memory 64"),
    (("--code", ".", "--handler", "a.b", "--runtime", "cobol"), "unknown --runtime"),
    (("--code", "/no/such/dir", "--handler", "a.b"), "no such file or directory"),
    (("--function", "f"), "--function NAME needs --adopt"),
])
def test_bad_function_options_are_one_line_exit_2(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    result = s3gw_on("http://127.0.0.1:9", tmp_path / "state", "bad", "up", *args)
    assert result.exit_code == 2, result.stderr
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1


# --- a function you already run ---------------------------------------------------------------------------------


def existing_function(sandbox_url: str, name: str, where: Path) -> dict[str, Any]:
    """What a user has: a function outside any VPC, with its own role carrying a policy of its own (and the basic
    execution role), reaching S3 the public way today."""
    import boto3
    from sandbox_fixtures import REGION

    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=sandbox_url, aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    iam, lam = client("iam"), client("lambda")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName=f"{name}-own-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    own = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="its-own", PolicyDocument=json.dumps(own))
    basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=basic)
    code = package.zip_directory(write_app(where, "existing"))
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role["Arn"], Handler="app.handler",
                        Code={"ZipFile": code}, Timeout=20, Environment={"Variables": {"BUCKET_NAME": "unset"}})
    return {"iam": iam, "lambda": lam, "role": role["RoleName"]}


def role_policies(iam: Any, role: str) -> tuple[list[str], dict[str, Any]]:
    attached = sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"])
    inline = {n: iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"]
              for n in iam.list_role_policies(RoleName=role)["PolicyNames"]}
    return attached, inline


def test_a_function_you_run_joins_the_path_and_down_leaves_it_as_it_was(sandbox_url: str, tmp_path: Path) -> None:
    state_dir, stack, name = tmp_path / "state", "adopt1", "adopt1-existing"
    mine = existing_function(sandbox_url, name, tmp_path / "code")
    lam, iam = mine["lambda"], mine["iam"]
    vpc_before = lam.get_function_configuration(FunctionName=name).get("VpcConfig") or {}
    policies_before = role_policies(iam, mine["role"])
    assert not vpc_before.get("SubnetIds")

    def s3gw(*args: str) -> Any:
        return s3gw_on(sandbox_url, state_dir, stack, *args)

    made = s3gw("up", "--azs", "1", "--function", name, "--adopt")
    assert made.exit_code == 0, made.stderr
    recorded = state(state_dir, stack)
    assert recorded["resources"]["adopted_functions"] == [name]
    assert recorded["settings"]["adopted"]["functions"][name]["vpc"] == {"SubnetIds": [], "SecurityGroupIds": []}
    joined = lam.get_function_configuration(FunctionName=name)["VpcConfig"]
    assert joined["SubnetIds"] == recorded["resources"]["subnet_ids"]
    assert joined["SecurityGroupIds"] == [recorded["resources"]["security_group_id"]]
    assert s3gw("test-invoke", "--put", "probe.txt").exit_code == 0
    bucket = recorded["resources"]["bucket"]

    invoked = s3gw("invoke", "--payload", json.dumps({"bucket": bucket}))
    assert invoked.exit_code == 0, invoked.stderr
    assert json.loads(invoked.stdout)["keys"] == ["probe.txt"]  # through the endpoint: the seal let it list
    again = s3gw("up")
    assert again.exit_code == 0 and "0 created, 0 repaired" in again.stdout, again.stdout
    verified = s3gw("verify")
    assert verified.exit_code == 0 and f"{name}: role reaches the bucket" in verified.stdout, verified.stdout

    gone = s3gw("down", "--yes")
    assert gone.exit_code == 0, gone.stderr
    assert (lam.get_function_configuration(FunctionName=name).get("VpcConfig") or {}).get("SubnetIds") in (None, [])
    assert role_policies(iam, mine["role"]) == policies_before
    assert not (state_dir / f"{stack}.json").exists()
    from s3gw.commands.inspect import leftovers
    from s3gw.config import make_config

    config = make_config(stack=stack, region="eu-west-1", endpoint_url=sandbox_url, state_dir=state_dir)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            patch.setenv(key, value)
        assert leftovers(config) == {}


def test_a_function_in_another_vpc_is_refused_before_anything_changes(sandbox_url: str, tmp_path: Path,
                                                                      call_log: Any) -> None:
    name = "adopt2-elsewhere"
    mine = existing_function(sandbox_url, name, tmp_path / "code")
    import boto3

    ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=sandbox_url, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="elsewhere", Description="x", VpcId=vpc)["GroupId"]
    mine["lambda"].update_function_configuration(FunctionName=name,
                                                 VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [group]})
    del call_log.calls[:]
    refused = s3gw_on(sandbox_url, tmp_path / "state", "adopt2", "up", "--function", name, "--adopt")
    assert refused.exit_code == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and f"is in {vpc}, not the stack's VPC" in lines[0]
    assert call_log.mutating == [] and not (tmp_path / "state" / "adopt2.json").exists()


def test_logs_follow_prints_each_new_line_once(mocked: None, state_dir: Path) -> None:
    """`logs --follow`: FilterLogEvents again after each pause, from the last line's time; a line never twice."""
    import time

    import boto3
    from conftest import REGION, make_test_config

    from s3gw.function_calls import log_lines
    from s3gw.run import open_context

    logs = boto3.client("logs", region_name=REGION)
    group = "/aws/lambda/mine"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")

    def put(message: str) -> None:
        logs.put_log_events(logGroupName=group, logStreamName="s",
                            logEvents=[{"timestamp": int(time.time() * 1000), "message": message}])

    put("first")
    pauses = []

    def sleep(seconds: float) -> None:  # the pause between two reads: a line arrives in the first; the third ends it
        pauses.append(seconds)
        if len(pauses) == 1:
            put("second")
        if len(pauses) == 3:
            raise KeyboardInterrupt

    ctx = open_context(make_test_config(state_dir), lambda message: None, persist=False)
    seen = []
    with pytest.raises(KeyboardInterrupt):
        for line in log_lines(ctx, "mine", 600, follow=True, sleep=sleep):
            seen.append(line)
    assert seen == ["first", "second"]
    assert list(log_lines(ctx, "mine", 600)) == ["first", "second"]  # without --follow: once, and done


def test_keep_security_groups_adds_the_stack_s_group_and_down_puts_back_its_own(sandbox_url: str,
                                                                               tmp_path: Path) -> None:
    """A function already in the stack's VPC, behind a group of its own: --keep-security-groups adds the stack's
    group to it; down takes it back to its own group, as recorded."""
    import boto3

    state_dir, stack, name = tmp_path / "state", "adopt3", "adopt3-insider"
    assert s3gw_on(sandbox_url, state_dir, stack, "up", "--azs", "1").exit_code == 0
    resources = state(state_dir, stack)["resources"]
    ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=sandbox_url, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    own_group = ec2.create_security_group(GroupName="its-own", Description="x", VpcId=resources["vpc_id"])["GroupId"]
    mine = existing_function(sandbox_url, name, tmp_path / "code")
    lam = mine["lambda"]
    lam.update_function_configuration(FunctionName=name, VpcConfig={"SubnetIds": resources["subnet_ids"],
                                                                    "SecurityGroupIds": [own_group]})
    made = s3gw_on(sandbox_url, state_dir, stack, "up", "--function", name, "--adopt", "--keep-security-groups")
    assert made.exit_code == 0, made.stderr
    groups = lam.get_function_configuration(FunctionName=name)["VpcConfig"]["SecurityGroupIds"]
    assert sorted(groups) == sorted([own_group, resources["security_group_id"]])
    assert s3gw_on(sandbox_url, state_dir, stack, "outputs", "adopted_functions").stdout.strip() == name
    down = s3gw_on(sandbox_url, state_dir, stack, "down", "--yes", "--wait", "0")
    vpc = lam.get_function_configuration(FunctionName=name)["VpcConfig"]
    assert vpc["SecurityGroupIds"] == [own_group] and vpc["SubnetIds"] == resources["subnet_ids"], down.stderr
    # the function is back in the stack's subnets, as it was: they cannot go while it uses them, and down says so
    assert down.exit_code == 1 and "private subnets" in down.stderr


@pytest.mark.parametrize(("call", "occurrence"), [("CreateRole", 1), ("PutRolePolicy", 1), ("CreateFunction", 1),
                                                  ("UpdateFunctionCode", 0)])
def test_up_killed_at_a_call_for_your_function_resumes_without_a_duplicate(
        mocked: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str, occurrence: int) -> None:
    """Killed after AWS acted on one of your function's mutating calls (one step at a time: the probe's come first),
    the next `up` finishes with one function and one role of yours, and `down` leaves nothing."""
    import boto3
    from conftest import REGION
    from fault_helpers import Crash, Injector, on_every_client

    from s3gw import commands
    from s3gw.config import make_config

    injector = Injector()
    on_every_client(monkeypatch, lambda client, service: (
        client.meta.events.register("before-call", injector.before),
        client.meta.events.register("after-call", injector.after)))
    code = write_app(tmp_path / "code", "one")
    state_dir = tmp_path / "state"
    config = make_config(stack="crash", region=REGION, state_dir=state_dir, azs=1, max_concurrency=1,
                         code=str(code), handler="app.handler")
    if call == "UpdateFunctionCode":
        commands.up.up(config, lambda message: None)
        write_app(code, "two")
    injector.arm(at_name=call, occurrence=occurrence, when="after")
    with pytest.raises(Crash):
        commands.up.up(config, lambda message: None)
    injector.armed = False
    commands.up.up(config, lambda message: None)
    lam, iam = boto3.client("lambda", region_name=REGION), boto3.client("iam", region_name=REGION)
    assert sorted(f["FunctionName"] for f in lam.list_functions()["Functions"]) == ["crash-app", "crash-lister"]
    assert sorted(r["RoleName"] for r in iam.list_roles()["Roles"]) == ["crash-app-role", "crash-lambda-role"]
    assert lam.get_function(FunctionName="crash-app")["Configuration"]["CodeSha256"] == package.code_sha256(
        package.zip_directory(code))
    assert commands.inspect.status(config, lambda message: None).clean
    assert commands.down.down(config, lambda message: None).complete
    assert lam.list_functions()["Functions"] == [] and iam.list_roles()["Roles"] == []


def test_down_from_tags_finds_your_function_and_its_role_when_the_state_is_lost(sandbox_url: str,
                                                                                tmp_path: Path) -> None:
    import boto3

    state_dir, stack = tmp_path / "state", "app5"
    code = write_app(tmp_path / "code", "m")
    assert s3gw_on(sandbox_url, state_dir, stack, "up", "--azs", "1", "--code", str(code), "--handler",
                   "app.handler").exit_code == 0
    (state_dir / f"{stack}.json").unlink()
    gone = s3gw_on(sandbox_url, state_dir, stack, "down", "--from-tags", "--yes")
    assert gone.exit_code == 0, gone.stderr
    options = dict(region_name="eu-west-1", endpoint_url=sandbox_url, aws_access_key_id="testing",
                   aws_secret_access_key="testing")
    names = [f["FunctionName"] for f in boto3.client("lambda", **options).list_functions()["Functions"]]
    roles = [r["RoleName"] for r in boto3.client("iam", **options).list_roles()["Roles"]]
    assert f"{stack}-app" not in names and f"{stack}-app-role" not in roles
