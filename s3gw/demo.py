"""`s3gw demo`: the whole lifecycle on an in-process sandbox, with no AWS account and nothing left behind."""

from __future__ import annotations

import gc
import json
import os
import tempfile
import time
from typing import Any

from s3gw import commands
from s3gw.aws import Aws
from s3gw.config import make_config
from s3gw.errors import CheckFailed

DEMO_STACK = "demo"
DEMO_REGION = "us-east-1"
DEMO_KEYS = ("reports/2026-11.csv", "images/logo.png", "hello.txt")
# Another bucket of the sandbox, in the stack's region (a gateway endpoint carries only its own region's traffic),
# whose own policy lets the function's role write: so when the write is refused, the endpoint policy refused it,
# and S3's message says so ("because no VPC endpoint policy allows the s3:PutObject action").
DECOY = "s3gw-demo-decoy"
# The sandbox accepts any credentials; these keep the host's real ones (and profile) out of the demo.
_DEMO_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox",
                     "AWS_SESSION_TOKEN": "sandbox", "AWS_REGION": DEMO_REGION}
_HIDDEN = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE",
           "AWS_SHARED_CREDENTIALS_FILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")


def run_demo(renderer: Any, *, keep: bool = False) -> bool:
    from s3gw.sandbox import Behaviours, Sandbox

    saved = {key: os.environ.get(key) for key in (*_DEMO_ENVIRONMENT, *_HIDDEN)}
    os.environ.update(_DEMO_ENVIRONMENT)
    for key in _HIDDEN:
        os.environ.pop(key, None)
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    try:
        with Sandbox(port=0, behaviours=Behaviours()) as sandbox, tempfile.TemporaryDirectory() as state_dir:
            renderer.note(f"sandbox serving at {sandbox.endpoint_url} (no AWS account is used)")
            config = make_config(stack=DEMO_STACK, region=DEMO_REGION, endpoint_url=sandbox.endpoint_url,
                                 state_dir=state_dir, output=renderer.output)
            return _lifecycle(config, renderer, keep)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _lifecycle(config: Any, renderer: Any, keep: bool) -> bool:
    results: dict[str, Any] = {}
    renderer.note("1/5 s3gw up")
    started = time.monotonic()
    results["up"] = commands.up.up(config, renderer.progress)
    if config.output != "json":
        renderer.steps(f"stack {config.stack} in {config.region}", results["up"], "up", time.monotonic() - started)
    renderer.note("2/5 s3gw test-invoke --put KEY: the function writes through the endpoint")
    for key in DEMO_KEYS:
        written = commands.invoke.test_invoke(config, renderer.progress, put_key=key)
        if not written.ok:
            renderer.invocation(written)
            raise CheckFailed(f"the function could not write {key}: {written.error or written.diagnosis}")
    renderer.note(f"3/5 s3gw test-invoke --other-bucket {DECOY}: it lists the bucket; the same call from here is "
                  f"refused, and so is its write to {DECOY} (a bucket whose own policy would take it)")
    s3 = Aws(config).s3
    _make_decoy(s3, commands.inspect.recorded_outputs(config)["role_arn"])
    try:
        results["test_invoke"] = listed = commands.invoke.test_invoke(config, renderer.progress, other_bucket=DECOY)
    finally:
        _remove_decoy(s3)
    renderer.note("4/5 s3gw status / outputs")
    results["status"] = commands.inspect.status(config, renderer.progress)
    results["outputs"] = commands.inspect.recorded_outputs(config)
    if config.output != "json":  # shown while the ids still exist, not after the teardown
        renderer.invocation(listed)
        renderer.outputs(results["outputs"])
    if keep:
        exports = (f"export AWS_ENDPOINT_URL={config.endpoint_url} AWS_ACCESS_KEY_ID=sandbox "
                   f"AWS_SECRET_ACCESS_KEY=sandbox AWS_REGION={config.region} S3GW_STACK={config.stack} "
                   f"S3GW_STATE_DIR={config.state_dir}")
        # On stdout for `eval`, unless stdout is the JSON document.
        (renderer.note if config.output == "json" else renderer.result)(exports)
        renderer.note("--keep: the stack stays up; in another shell, run the export line above, then any "
                      "s3gw command (s3gw status, s3gw test-invoke). Ctrl-C here takes it down")
        gc.enable()  # the CLI turned it off for a short run; the sandbox now serves others for as long as it takes
        _wait_for_interrupt()
    renderer.note("5/5 s3gw down --yes")
    results["down"] = commands.down.down(config, renderer.progress)
    results["left_in_aws"] = commands.inspect.leftovers(config)
    listed_keys = sorted(o["key"] for o in listed.objects)
    ok = (listed.ok and listed_keys == sorted(DEMO_KEYS) and listed.outside_refused is True
          and listed.other_refused is True and listed.other_by == "VPC endpoint policy"
          and results["status"].clean and not results["down"].left and not results["left_in_aws"])
    if config.output == "json":
        renderer.json({"ok": ok, **results})
        return ok
    left = results["left_in_aws"]
    renderer.note("down: nothing of the stack is left" if not left and not results["down"].left
                  else f"down left: {left or results['down'].left}")
    renderer.result("demo: the private path works, the seal holds, and the endpoint keeps the function off other "
                    "buckets" if ok else "demo: FAILED (see above)")
    return ok


def _make_decoy(s3: Any, role_arn: str) -> None:
    s3.create_bucket(Bucket=DECOY)  # us-east-1 takes no LocationConstraint
    s3.put_bucket_policy(Bucket=DECOY, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "TheDemoFunctionMayWrite", "Effect": "Allow", "Principal": {"AWS": role_arn},
        "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{DECOY}/*"}]}))


def _remove_decoy(s3: Any) -> None:
    """The decoy goes before down, so nothing is left behind (its one object, if the write got through, too)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=DECOY):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=DECOY, Key=item["Key"])
    s3.delete_bucket(Bucket=DECOY)


def _wait_for_interrupt() -> None:
    import time

    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
