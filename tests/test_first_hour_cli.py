"""Issue 26, the CLI's half: prompts that can be declined (exit 5), unseal's prompt and JSON, one-line usage errors
that name the environment variable, a sandbox example that returns, plurals, versioned JSON documents, completion,
and no secret in -v's traceback or in a URL."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from conftest import REGION

from s3gw import cli as cli_module
from s3gw.cli import cli
from s3gw.errors import EXIT_DECLINED

ACCOUNT = "123456789012"  # moto's


def state_file(state_dir: Path, resources: dict[str, Any], stack: str = "t") -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"{stack}.json"
    path.write_text(json.dumps({"schema": 1, "stack": stack, "region": REGION, "account": ACCOUNT,
                                "resources": resources}))
    return path


def invoke(*args: str, state_dir: Path, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, [*args, "--stack", "t", "--region", REGION, "--state-dir", str(state_dir)],
                              env=env, input=stdin)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# --- items 4 and 5: a declined prompt is its own outcome; unseal asks, and speaks JSON -----------------------------


def test_down_answered_no_is_one_line_and_exit_5_and_nothing_changes(
        mocked: None, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    path = state_file(state_dir, {"vpc_id": vpc})
    before = path.read_text()
    monkeypatch.setattr(cli_module, "_interactive", lambda: True)
    for answer in ("n\n", ""):  # "n", and end of input (no answer is no)
        asked = invoke("down", state_dir=state_dir, stdin=answer)
        assert asked.exit_code == EXIT_DECLINED, asked.output
        assert "Aborted" not in asked.output
        assert asked.stderr.strip().splitlines()[-1] == "down: declined; nothing of stack t was deleted"
        assert asked.stdout == ""
    assert path.read_text() == before
    assert boto3.client("ec2", region_name=REGION).describe_vpcs(VpcIds=[vpc])["Vpcs"]


@pytest.fixture
def sealed(mocked: None, state_dir: Path) -> str:
    """A stack whose state records a bucket that carries a policy (the seal, as far as unseal cares)."""
    s3 = boto3.client("s3", region_name=REGION)
    bucket = f"t-{ACCOUNT}-{REGION}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "S3gwDenyWithoutTLS", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    state_file(state_dir, {"bucket": bucket})
    return bucket


def has_policy(bucket: str) -> bool:
    try:
        boto3.client("s3", region_name=REGION).get_bucket_policy(Bucket=bucket)
        return True
    except Exception:  # NoSuchBucketPolicy
        return False


def test_unseal_asks_and_a_no_keeps_the_seal(sealed: str, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unasked = invoke("unseal", state_dir=state_dir)  # no terminal, no --yes: refused before any change
    assert unasked.exit_code == 2 and "unseal needs confirmation" in one_line(unasked.stderr)
    monkeypatch.setattr(cli_module, "_interactive", lambda: True)
    declined = invoke("unseal", state_dir=state_dir, stdin="n\n")
    assert declined.exit_code == EXIT_DECLINED, declined.output
    assert f"Remove the seal of bucket {sealed}" in declined.stderr
    assert declined.stderr.strip().splitlines()[-1] == f"unseal: declined; {sealed} stays sealed"
    assert has_policy(sealed)
    agreed = invoke("unseal", "--output", "json", state_dir=state_dir, stdin="y\n")
    assert agreed.exit_code == 0, agreed.output
    document = json.loads(agreed.stdout)
    assert document["schema"] == 1 and document["bucket"] == sealed and document["sealed"] is False
    assert not has_policy(sealed)


def test_unseal_yes_prints_one_json_document(sealed: str, state_dir: Path) -> None:
    done = invoke("--output", "json", "unseal", "--yes", state_dir=state_dir)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["stack"] == "t" and not has_policy(sealed)


# --- item 6: every error is one line, and names where a bad value came from ---------------------------------------


USAGE = [
    (["stauts"], {}, "error: no such command 'stauts'"),
    (["status", "--output", "yaml"], {}, "error: invalid value for --output: 'yaml' is not one of"),
    (["--output", "yaml", "status"], {}, "error: invalid value for --output: 'yaml'"),
    (["status"], {"S3GW_OUTPUT": "yaml"},
     "error: invalid value for S3GW_OUTPUT (the environment variable of --output): 'yaml'"),
    (["status"], {"S3GW_MAX_CONCURRENCY": "many"}, "error: invalid value for S3GW_MAX_CONCURRENCY"),
    (["up", "--azs", "three"], {}, "error: invalid value for --azs: 'three' is not a valid integer"),
    (["status"], {"S3GW_STACK": "Bad Name"}, "error: invalid stack name 'Bad Name' (from S3GW_STACK)"),
    (["status"], {"AWS_REGION": "us-est-1"}, "error: unknown region 'us-est-1' (from AWS_REGION)"),
    (["outputs", "a", "b"], {}, "error: got unexpected extra argument (b)"),
]


@pytest.mark.parametrize(("args", "env", "says"), USAGE, ids=[" ".join(a) + str(e) for a, e, _ in USAGE])
def test_every_usage_error_is_one_line_in_one_format(args: list[str], env: dict[str, str], says: str) -> None:
    environment = {"AWS_REGION": REGION, **env}
    result = CliRunner().invoke(cli, args, env=environment)
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert line.startswith(says), line
    assert "Usage:" not in result.output and "Error:" not in result.output and result.stdout == ""


def test_a_typed_value_is_not_blamed_on_the_environment() -> None:
    result = CliRunner().invoke(cli, ["status", "--stack", "Bad Name"], env={"S3GW_STACK": "good"})
    assert one_line(result.stderr).startswith("error: invalid stack name 'Bad Name' — ")
    same = CliRunner().invoke(cli, ["up", "--bucket", "ab"], env={"S3GW_STACK": "ab", "AWS_REGION": REGION})
    assert one_line(same.stderr).startswith("error: invalid bucket name 'ab' — "), same.stderr


# --- item 8: the sandbox's help example returns ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_sandbox_help_example_runs_and_returns(tmp_path: Path) -> None:
    """The example lines of `s3gw sandbox --help`, run by bash as written (another port): the variables reach the
    sandbox, and the shell gets its prompt back."""
    bash = shutil.which("bash")
    assert bash
    help_text = CliRunner().invoke(cli, ["sandbox", "--help"]).output
    example = help_text.split("Example:", 1)[1].split("Options:", 1)[0]
    lines = [line.split("  #", 1)[0].strip() for line in example.strip().splitlines()]
    port = str(free_port())
    script = "\n".join(line.replace("4566", port) for line in lines) + (
        "\npython -c 'import os, boto3; print(boto3.client(\"sts\", region_name=os.environ[\"AWS_REGION\"])"
        ".get_caller_identity()[\"Account\"])'"
        "\necho \"$AWS_ENDPOINT_URL\"\nkill $!\nwait\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "S3GW_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    run = subprocess.Popen([bash, "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 0, err
    assert out.splitlines()[-2:] == [ACCOUNT, f"http://127.0.0.1:{port}"], out + err
    assert (tmp_path / "sandbox.env").read_text().startswith(f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port} ")


def test_print_env_serves_nothing_and_needs_a_port() -> None:
    printed = CliRunner().invoke(cli, ["sandbox", "--port", "4599", "--print-env"])
    assert printed.exit_code == 0 and printed.stdout.startswith("export AWS_ENDPOINT_URL=http://127.0.0.1:4599 ")
    refused = CliRunner().invoke(cli, ["sandbox", "--port", "0", "--print-env"])
    assert refused.exit_code == 2 and "--print-env needs the --port" in one_line(refused.stderr)


# --- item 10: plurals, and a prompt that says why it did not count -------------------------------------------------


def test_down_prompt_counts_with_the_right_plural_and_says_why_it_did_not(monkeypatch: pytest.MonkeyPatch) -> None:

    from s3gw.config import make_config

    config = make_config(stack="t", region=REGION)
    for versions, says in ((1, "  and the bucket's 1 object version or delete marker"),
                           (2, "  and the bucket's 2 object versions and delete markers"),
                           (None, "(not counted: S3 refused to list them from here)")):
        monkeypatch.setattr("s3gw.commands.down.down_preview", lambda config, n=versions: (["bucket b"], n))
        question = cli_module._down_question(config, from_tags=False)
        assert says in question
        assert "(s)" not in question and "does not let them be counted" not in question


def test_emptying_one_version_says_one(mocked: None) -> None:
    from types import SimpleNamespace

    from s3gw.steps.bucket import empty_bucket

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="one-version", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="one-version", Key="a", Body=b"x")
    said: list[str] = []
    ctx = SimpleNamespace(aws=SimpleNamespace(s3=s3), progress=said.append)
    assert empty_bucket(ctx, "one-version") == 1  # type: ignore[arg-type]
    assert said == ["emptied one-version: 1 object version deleted"]


# --- item 13: every JSON document carries its schema, the summary's counts and the seconds -------------------------


def test_every_command_json_has_schema_summary_and_elapsed(mocked: None, state_dir: Path) -> None:
    made = invoke("up", "--azs", "1", "--output", "json", state_dir=state_dir)
    assert made.exit_code == 0, made.output
    up = json.loads(made.stdout)
    text = invoke("up", "--azs", "1", state_dir=state_dir).stdout.splitlines()[-1]
    assert re.fullmatch(r"up: 0 created, 0 repaired, 8 unchanged in \d+\.\ds", text)
    assert up["schema"] == 1 and up["summary"] == {"created": 8, "repaired": 0, "unchanged": 0}
    assert isinstance(up["elapsed"], float) and up["elapsed"] >= 0
    for args, summary in ((["plan"], {"to_create": 0, "to_change": 0, "unchanged": 8}),
                          (["status"], {"ok": 8, "drifted": 0, "missing": 0})):
        document = json.loads(invoke(*args, "--output", "json", state_dir=state_dir).stdout)
        assert document["schema"] == 1 and document["summary"] == summary and "elapsed" in document, args
    checked = json.loads(invoke("verify", "--output", "json", state_dir=state_dir).stdout)
    assert checked["schema"] == 1 and checked["summary"]["broken"] == 0
    assert checked["summary"]["hold"] == checked["summary"]["links"] == len(checked["checks"])
    outputs = json.loads(invoke("outputs", "--output", "json", state_dir=state_dir).stdout)
    assert outputs["schema"] == 1 and outputs["bucket"] == f"t-{ACCOUNT}-{REGION}"
    one = json.loads(invoke("outputs", "subnet_ids", "--output", "json", state_dir=state_dir).stdout)
    assert one == {"schema": 1, "key": "subnet_ids", "value": outputs["subnet_ids"]}
    policy = json.loads(invoke("permissions", "--output", "json", state_dir=state_dir).stdout)
    assert set(policy) == {"Version", "Statement"}  # an IAM policy document takes no other top-level key
    gone = invoke("down", "--yes", "--output", "json", state_dir=state_dir)
    assert gone.exit_code == 0, gone.output
    down = json.loads(gone.stdout)
    assert down["schema"] == 1 and down["summary"]["deleted"] == len(down["deleted"]) > 0
    assert down["summary"]["left"] == 0 and "elapsed" in down
    nothing = json.loads(invoke("down", "--yes", "--output", "json", state_dir=state_dir).stdout)
    assert nothing["schema"] == 1 and nothing["summary"]["deleted"] == 0


def test_test_invoke_json_counts_the_objects() -> None:
    from s3gw.invoke import InvokeReport
    from s3gw.render import Renderer

    fields = InvokeReport.__dataclass_fields__
    report = InvokeReport(**{name: None for name in fields})  # type: ignore[arg-type]
    report.objects = [{"key": "a", "size": 1}]
    report.error = "Could not connect to the endpoint URL: http://me:hunter2@127.0.0.1:9/"
    printed: list[dict[str, Any]] = []
    renderer = Renderer("json")
    renderer.raw_json = printed.append  # type: ignore[method-assign]
    renderer.invocation(report)
    assert printed[0]["schema"] == 1 and printed[0]["summary"] == {"objects": 1} and "elapsed" in printed[0]
    assert printed[0]["error"] == "Could not connect to the endpoint URL: http://127.0.0.1:9/"  # no password


# --- item 14: completion offers the output keys and the stacks of the state directory ----------------------------


def completions(args: list[str], incomplete: str, env: dict[str, str] | None = None) -> list[str]:
    from click.shell_completion import ShellComplete

    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        return [item.value for item in ShellComplete(cli, {}, "s3gw", "_S3GW_COMPLETE")
                .get_completions(args, incomplete)]
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_completion_offers_output_keys_and_recorded_stacks(tmp_path: Path) -> None:
    assert completions(["outputs"], "sub") == ["subnet_ids"]
    assert "function_arn" in completions(["outputs"], "")
    for name in ("prod.json", "dev.json", ".s3gw.json.x1y2", "prod.lock", "Notes.json", "readme.txt"):
        (tmp_path / name).write_text("{}")
    assert completions(["status", "--state-dir", str(tmp_path), "--stack"], "") == ["dev", "prod"]
    assert completions(["--state-dir", str(tmp_path), "down", "--stack"], "p") == ["prod"]
    assert completions(["--stack"], "", {"S3GW_STATE_DIR": str(tmp_path)}) == ["dev", "prod"]
    assert completions(["status", "--state-dir", str(tmp_path / "none"), "--stack"], "") == []


def test_completion_through_the_shell_protocol(tmp_path: Path) -> None:
    """As bash calls it (the README's `_S3GW_COMPLETE=bash_source`): COMP_WORDS/COMP_CWORD in the environment."""
    (tmp_path / "stage.json").write_text("{}")
    env = {"COMP_WORDS": f"s3gw outputs --state-dir {tmp_path} fun", "COMP_CWORD": "4",
           "_S3GW_COMPLETE": "bash_complete"}
    done = CliRunner().invoke(cli, [], env=env, prog_name="s3gw", complete_var="_S3GW_COMPLETE")
    assert done.output.splitlines() == ["plain,function_name", "plain,function_arn"]


# --- item 16: no secret in -v's traceback, nor a URL's user:password --------------------------------------------


def test_verbose_traceback_redacts_every_line(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from s3gw import aws

    monkeypatch.setitem(aws.RETRY_CONFIG, "total_max_attempts", 1)
    port = free_port()  # nothing listens there; the request fails on its malformed headers first
    result = CliRunner().invoke(cli, ["-v", "plan", "--stack", "t", "--region", REGION, "--state-dir", str(state_dir),
                                      "--endpoint-url", f"http://127.0.0.1:{port}"],
                                env={"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY\nX", "AWS_SECRET_ACCESS_KEY": "s",
                                     "AWS_SESSION_TOKEN": "SESSIONTOKENSECRET\n"})
    assert result.exit_code == 1, result.output
    assert "Traceback" in result.stderr  # -v still shows it
    for secret in ("AKIAEXAMPLEKEY", "SESSIONTOKENSECRET", "aws4_request"):
        assert secret not in result.output
    assert not re.search(r"Signature=[0-9a-f]", result.output)


def test_no_url_is_printed_with_its_password(capsys: pytest.CaptureFixture[str]) -> None:
    from botocore.exceptions import EndpointConnectionError

    from s3gw.errors import translate
    from s3gw.render import Renderer

    error = translate(EndpointConnectionError(endpoint_url="http://user:hunter2@127.0.0.1:9/"), "finding the account")
    assert "cannot reach http://127.0.0.1:9/" in error.line() and "hunter2" not in error.line()
    renderer = Renderer(verbose=True)
    try:
        raise RuntimeError("connect to https://me:hunter2@example.com failed")
    except RuntimeError:
        with pytest.raises(SystemExit):
            cli_module.fail(renderer, error)
    renderer.progress("waiting: no answer from http://me:hunter2@example.com")
    captured = capsys.readouterr()
    assert "hunter2" not in captured.err and "https://example.com" in captured.err


def test_env_file_in_a_missing_directory_is_refused_before_serving(tmp_path: Path) -> None:
    refused = CliRunner().invoke(cli, ["sandbox", "--port", "0", "--env-file", str(tmp_path / "no" / "x.env")])
    assert refused.exit_code == 2 and "no such directory" in one_line(refused.stderr)
    assert refused.stdout == ""  # no export line for a server that never served


def test_a_bugs_traceback_is_redacted_too(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception that is not s3gw's (a bug) still shows its traceback, but never a signing value or a token it
    quotes, and exits 1 with one error line after it."""


    def broken(*_: Any, **__: Any) -> None:
        try:
            raise ValueError("Invalid header value b'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEKEY/20261204/eu-west-1"
                             "/ec2/aws4_request, Signature=0123abcd'")
        except ValueError as inner:
            raise RuntimeError("X-Amz-Security-Token=SESSIONTOKENSECRET was refused") from inner

    monkeypatch.setattr("s3gw.commands.inspect.plan", broken)
    for verbose in ([], ["-v"]):
        result = CliRunner().invoke(cli, [*verbose, "plan", "--stack", "t", "--region", REGION,
                                          "--state-dir", str(state_dir)])
        assert result.exit_code == 1, result.output
        assert "Traceback" in result.stderr and "RuntimeError" in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error: s3gw failed unexpectedly")
        for secret in ("AKIAEXAMPLEKEY", "SESSIONTOKENSECRET", "0123abcd"):
            assert secret not in result.output
