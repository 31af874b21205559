"""python -m s3gw.sandbox [--port N]: serve the sandbox until SIGINT/SIGTERM.

Prints AWS_ENDPOINT_URL=http://127.0.0.1:N on stdout once it answers. Timing behaviours come
from S3GW_SANDBOX_IAM_DELAY, S3GW_SANDBOX_PENDING and S3GW_SANDBOX_ENI_LINGER (seconds), and
S3GW_SANDBOX_LATENCY_MS (milliseconds added to every request).
"""

from __future__ import annotations

import argparse
import sys

from . import Behaviours, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m s3gw.sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: a free one)")
    arguments = parser.parse_args(argv)
    try:
        behaviours = Behaviours.from_env()
    except ValueError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    def ready(url: str) -> None:
        print(f"AWS_ENDPOINT_URL={url}", flush=True)

    serve(arguments.port, behaviours, ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
