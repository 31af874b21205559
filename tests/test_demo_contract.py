"""`demo`: one JSON document, the exports of a kept stack, and one line without the sandbox extra."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path


def test_demo_keep_json_prints_the_exports_then_one_document(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    demo = subprocess.Popen([sys.executable, "-m", "s3gw.cli", "demo", "--keep", "--output", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                            stdin=subprocess.DEVNULL)
    try:
        assert demo.stderr is not None and demo.stdout is not None
        exports = ""
        for line in demo.stderr:
            if line.startswith("export AWS_ENDPOINT_URL="):
                exports = line
                break
        assert exports, "no export line before the wait"
        variables = dict(word.split("=", 1) for word in exports.split()[1:])
        assert variables["S3GW_STACK"] == "demo" and variables["AWS_REGION"] == "us-east-1"
        # The kept stack answers from another process with just those variables.
        status = subprocess.run([sys.executable, "-m", "s3gw.cli", "status"], capture_output=True, text=True,
                                env={**env, **variables}, timeout=120, cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        assert status.stdout.splitlines()[-1] == "status: 8 ok, 0 drifted, 0 missing"
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=300)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, err
    document = json.loads(out)  # exactly one document: nothing else on stdout
    assert document["ok"] is True and document["left_in_aws"] == {}
    assert {s["action"] for s in document["up"]["steps"]} == {"created"}


def test_demo_without_the_sandbox_extra_is_one_line_exit_2() -> None:
    hide_moto = "import sys; sys.modules['moto'] = None; from s3gw.cli import main; sys.argv = ['s3gw', 'demo']; main()"
    for hidden in (hide_moto, hide_moto.replace("'demo']", "'sandbox']")):
        done = subprocess.run([sys.executable, "-c", hidden], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [
            "error: the sandbox needs moto, which is not installed — install s3gw[sandbox]"], done.stderr
        assert done.stdout == ""
