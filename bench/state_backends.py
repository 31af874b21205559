"""What keeping the state in S3 costs, against the local file: seconds and AWS calls per command, on the sandbox.

    python bench/state_backends.py [--runs N]

Figures only: nothing here is asserted. The sandbox has no network latency: on real AWS each extra S3 call
costs a round trip (tens of ms), which is what the "extra calls" column counts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import Counter
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    runs = parser.parse_args().runs
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)

    from s3gw import engine
    from s3gw.aws import Aws
    from s3gw.config import make_config
    from s3gw.sandbox import Behaviours, Sandbox

    calls: Counter[str] = Counter()
    original = Aws.client

    def counting_client(self: Aws, service: str, **options: Any) -> Any:
        made = original(self, service, **options)
        made.meta.events.register("before-call", lambda model, **_: calls.update([model.name]))
        return made

    Aws.client = counting_client  # type: ignore[method-assign]
    seconds: dict[tuple[str, str], list[float]] = {}
    counted: dict[tuple[str, str], Counter[str]] = {}
    with Sandbox(port=0, behaviours=Behaviours()) as sandbox:
        init = make_config(stack="init", region="us-east-1", endpoint_url=sandbox.endpoint_url,
                           state_url="s3://bench-state/s3gw")
        engine.state_init(init, lambda message: None)
        for run in range(runs):
            for backend in ("local", "s3"):
                with tempfile.TemporaryDirectory() as state_dir:
                    config = make_config(stack=f"b{backend}{run}", region="us-east-1",
                                         endpoint_url=sandbox.endpoint_url, state_dir=state_dir,
                                         state_url="s3://bench-state/s3gw" if backend == "s3" else None)
                    for name, command in (("up (new stack)", lambda c=config: engine.up(c, _quiet)),
                                          ("up (complete stack)", lambda c=config: engine.up(c, _quiet)),
                                          ("status", lambda c=config: engine.status(c, _quiet)),
                                          ("down", lambda c=config: engine.down(c, _quiet, wait=60))):
                        calls.clear()
                        began = time.perf_counter()
                        command()
                        seconds.setdefault((name, backend), []).append(time.perf_counter() - began)
                        counted[(name, backend)] = Counter(calls)
    print(f"{'command':22} {'local s':>8} {'S3 s':>8} {'calls':>6} {'S3 calls':>8}  extra calls with S3 state")
    for name in ("up (new stack)", "up (complete stack)", "status", "down"):
        local, s3 = counted[(name, "local")], counted[(name, "s3")]
        extra = s3 - local
        print(f"{name:22} {statistics.median(seconds[(name, 'local')]):8.2f} "
              f"{statistics.median(seconds[(name, 's3')]):8.2f} {sum(local.values()):6} {sum(s3.values()):8}  "
              + " ".join(f"{op}×{n}" for op, n in sorted(extra.items())))


def _quiet(message: str) -> None:
    pass


if __name__ == "__main__":
    main()
