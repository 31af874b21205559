"""The lowest boto3 s3gw works with: derive it, and prove it.

    python bench/boto3_floor.py table      # record s3gw's requests; find each member's first botocore release
    python bench/boto3_floor.py venv       # a fresh venv with boto3 == the declared floor runs the lifecycle

`table` runs the sandbox lifecycle of tests/request_shapes.py with the installed botocore, collects every operation
and request member s3gw uses, downloads botocore wheels (`pip download`, into a temporary directory) and finds,
by bisection over PyPI's releases from the baseline on, the first release whose model has each one. It writes
tests/botocore_first_versions.json, which tests/test_boto3_floor.py checks offline (every member s3gw uses is in
it; pyproject's floor is at least the latest of them).

`venv` makes /tmp/s3gw-floorvenv (or --venv), installs boto3 and botocore at exactly the floor pyproject.toml
declares and this checkout with the sandbox extra, and runs the same lifecycle there (each call validated by
that botocore before it is sent). Needs the network (PyPI). Prints the commands it ran and the result.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "tests" / "botocore_first_versions.json"
BASELINE = "1.34.0"  # the floor s3gw declared before this table existed: members present there need no bisection


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def declared_floor() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'"boto3>=([\d.]+)"', text)
    if not match:
        sys.exit("pyproject.toml declares no boto3>=X")
    return match.group(1)


def record() -> tuple[list[Any], list[str]]:
    sys.path.insert(0, str(ROOT / "tests"))
    import os

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_CONFIG_FILE=os.devnull,
                      AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    import request_shapes

    from s3gw.sandbox import Sandbox

    with tempfile.TemporaryDirectory() as work, Sandbox() as sandbox, request_shapes.recording() as calls:
        problems = request_shapes.lifecycle(sandbox.endpoint_url, Path(work))
    return calls, problems + request_shapes.validate(calls)


# --- table ----------------------------------------------------------------------------------------------------


def releases() -> list[str]:
    answer = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "botocore"], capture_output=True,
                            text=True, check=True).stdout
    listed = answer.split("Available versions:")[1].splitlines()[0]
    versions = [v.strip() for v in listed.split(",") if re.fullmatch(r"\d+\.\d+\.\d+", v.strip())]
    return sorted((v for v in versions if version_key(v) >= version_key(BASELINE)), key=version_key)


class Wheels:
    def __init__(self, where: Path) -> None:
        self.where = where

    @cache  # noqa: B019  (one Wheels per run)
    def models(self, version: str) -> dict[str, dict[str, Any]]:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(self.where),
                        f"botocore=={version}"], check=True)
        wheel = next(self.where.glob(f"botocore-{version}-*.whl"))
        out: dict[str, dict[str, Any]] = {}
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            for service in ("ec2", "s3", "iam", "lambda", "sts"):
                pattern = rf"botocore/data/{service}/[\d-]+/service-2\.json(\.gz)?"
                found = sorted(n for n in names if re.fullmatch(pattern, n))
                data = archive.read(found[-1])  # the newest API version
                out[service] = json.loads(gzip.decompress(data) if found[-1].endswith(".gz") else data)
        wheel.unlink()  # ~12 MB each: keep only the parsed models
        return out


def has(model: dict[str, Any], member: str) -> bool:
    """Whether `service.Operation[.Member...]` exists in a service-2.json model."""
    _, operation, *path = member.split(".")
    if operation not in model["operations"]:
        return False
    shape = model["operations"][operation].get("input", {}).get("shape")
    for name in path:
        definition = model["shapes"].get(shape or "", {})
        while definition.get("type") in ("list", "map"):
            inner = definition.get("member") or definition.get("value") or {}
            definition = model["shapes"].get(inner.get("shape", ""), {})
        if name not in definition.get("members", {}):
            return False
        shape = definition["members"][name]["shape"]
    return True


def first_release(member: str, versions: list[str], wheels: Wheels) -> str:
    service = member.split(".")[0]
    low, high = 0, len(versions) - 1
    if not has(wheels.models(versions[high])[service], member):
        sys.exit(f"{member} is not in botocore {versions[high]} either")
    while low < high:  # the first release that has it; a member is never taken out again
        middle = (low + high) // 2
        if has(wheels.models(versions[middle])[service], member):
            high = middle
        else:
            low = middle + 1
    return versions[low]


def table() -> None:
    calls, problems = record()
    from request_shapes import used_members  # on the path after record()

    if problems:
        sys.exit("the lifecycle did not run cleanly:\n" + "\n".join(problems))
    used = sorted(used_members(calls))
    versions = releases()
    with tempfile.TemporaryDirectory() as where:
        wheels = Wheels(Path(where))
        found = {m: BASELINE if has(wheels.models(BASELINE)[m.split(".")[0]], m) else first_release(m, versions, wheels)
                 for m in used}
    TABLE.write_text(json.dumps({
        "comment": "first botocore release whose model has each operation/request member s3gw uses "
                   "(written by bench/boto3_floor.py table; '" + BASELINE + "' means that release or earlier)",
        "baseline": BASELINE, "first_versions": found}, indent=1, sort_keys=True) + "\n")
    beyond = {m: v for m, v in found.items() if v != BASELINE}
    print(f"{len(calls)} requests, {len(used)} members; beyond botocore {BASELINE}:")
    for member, version in sorted(beyond.items(), key=lambda kv: version_key(kv[1])):
        print(f"  {version:>10}  {member}")
    print(f"floor: boto3/botocore >= {max(found.values(), key=version_key)}; wrote {TABLE.relative_to(ROOT)}")


# --- venv -----------------------------------------------------------------------------------------------------


def venv(where: Path) -> None:
    floor = declared_floor()
    python = where / "bin" / "python"
    commands = [
        [sys.executable, "-m", "venv", "--clear", str(where)],
        [str(python), "-m", "pip", "install", "-q", f"boto3=={floor}", f"botocore=={floor}", "-e", f"{ROOT}[sandbox]"],
    ]
    for command in commands:
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True)
    versions = subprocess.run([str(python), "-c", "import boto3, botocore, moto; print(boto3.__version__, "
                               "botocore.__version__, moto.__version__)"], capture_output=True, text=True, check=True)
    boto3_version, botocore_version, moto_version = versions.stdout.split()
    print(f"installed: boto3 {boto3_version}, botocore {botocore_version}, moto {moto_version}")
    if boto3_version != floor or botocore_version != floor:
        sys.exit(f"pip did not keep boto3/botocore at {floor} (moto or another dependency asked for more)")
    run = [str(python), str(Path(__file__).resolve()), "lifecycle"]
    print("$", " ".join(run), flush=True)
    sys.exit(subprocess.run(run).returncode)


def lifecycle() -> None:
    """Inside the floor venv: the lifecycle, every request validated by this (the floor's) botocore."""
    import botocore

    calls, problems = record()
    print(f"botocore {botocore.__version__}: {len(calls)} requests made by s3gw, {len(problems)} problems")
    for problem in problems:
        print("  " + problem)
    sys.exit(1 if problems else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("table", "venv", "lifecycle"))
    parser.add_argument("--venv", type=Path, default=Path("/tmp/s3gw-floorvenv"))
    args = parser.parse_args()
    {"table": table, "venv": lambda: venv(args.venv), "lifecycle": lifecycle}[args.what]()


if __name__ == "__main__":
    main()
