"""`down` wall time against how long Lambda's ENIs linger, on the in-process sandbox.

    python bench/down_linger.py [--lingers 0,2,5,10] [--azs 3]

For each T, a fresh stack is brought up on a sandbox whose Lambda ENIs stay in use T seconds once no
function uses them (AWS: up to ~20-35 min), then `down` is timed. Figures only: nothing is asserted. s3gw
takes the function out of the VPC first, so the linger starts before DeleteFunction; the bucket, endpoint
and route tables go while the ENIs linger; the poll interval grows from 1 s to 15 s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lingers", default="0,2,5,10", help="comma-separated seconds")
    parser.add_argument("--azs", type=int, default=3)
    arguments = parser.parse_args()
    lingers = [float(t) for t in arguments.lingers.split(",")]
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)

    from s3gw import commands
    from s3gw.config import make_config
    from s3gw.sandbox import Behaviours, Sandbox

    print(f"{'linger T s':>10} {'down s':>8} {'down - T s':>11}")
    with Sandbox(port=0, behaviours=Behaviours()) as sandbox:
        for run, linger in enumerate(lingers):
            sandbox.behaviours = Behaviours(eni_linger=linger)
            with tempfile.TemporaryDirectory() as state_dir:
                config = make_config(stack=f"linger{run}", region="us-east-1", endpoint_url=sandbox.endpoint_url,
                                     state_dir=state_dir, azs=arguments.azs)
                commands.up.up(config, lambda message: None)
                began = time.perf_counter()
                report = commands.down.down(config, lambda message: None)
                took = time.perf_counter() - began
                print(f"{linger:>10.1f} {took:>8.2f} {took - linger:>11.2f}"
                      + ("" if report.complete else f"  INCOMPLETE: {report.problems}"))


if __name__ == "__main__":
    main()
