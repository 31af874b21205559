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
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=os.environ["BUCKET_NAME"]).get("Contents", [])]
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
