"""What `pip install '.[sandbox]'` costs: a fresh venv, its package count and size, and `s3gw demo` run in it.

    python bench/sandbox_footprint.py [--project DIR] [--extra sandbox] [--keep DIR]

Figures only: nothing is asserted. The project is copied first (without build/, dist/, *.egg-info, .git), so a
stale build/lib cannot leak into the install. "packages" counts the distributions the install added to a new
venv (what `pip list` shows, less what `python -m venv` put there: pip, setuptools); "MB" is the venv's disk use
(as `du -sm`, with the .pyc files pip compiles), and how much of it the install added. The demo's wall time
depends on the machine's load, printed beside it: compare installs under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SKIP = shutil.ignore_patterns("build", "dist", "*.egg-info", ".git", "__pycache__", ".s3gw", ".venv")


def distributions(python: Path) -> list[str]:
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format", "json"],
                            check=True, capture_output=True, text=True).stdout
    return sorted(entry["name"] for entry in json.loads(listed))


def disk_mib(path: Path) -> float:
    """Blocks used under path, each inode once (what `du -sm` reports)."""
    seen: set[tuple[int, int]] = set()
    used = 0
    for folder, _, files in os.walk(path):
        for name in [folder, *(os.path.join(folder, f) for f in files)]:
            info = os.lstat(name)
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                used += info.st_blocks * 512
    return used / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path, default=ROOT, help="the project to install (default: this one)")
    parser.add_argument("--extra", default="sandbox", help="the extra to install (default: sandbox)")
    parser.add_argument("--keep", type=Path, help="make the venv here and leave it (default: a temporary one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="s3gw-footprint-") as scratch:
        source = Path(scratch) / "project"
        shutil.copytree(args.project, source, ignore=_SKIP)
        venv = args.keep or Path(scratch) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        before = set(distributions(python))
        empty_mib = disk_mib(venv)
        started = time.monotonic()
        install = subprocess.run([str(python), "-m", "pip", "install", "-q", f"{source}[{args.extra}]"],
                                 capture_output=True, text=True)
        if install.returncode != 0:
            print(install.stdout[-3000:], install.stderr[-3000:], file=sys.stderr)
            return install.returncode
        install_seconds = time.monotonic() - started
        added = [name for name in distributions(python) if name not in before]
        print(f"project   {args.project} [{args.extra}]")
        print(f"packages  {len(added)} (and {', '.join(sorted(before))} from venv)")
        venv_mib = disk_mib(venv)
        print(f"MB        {venv_mib:.0f} (the whole venv, as du -sm), {venv_mib - empty_mib:.0f} added to the "
              f"new venv's {empty_mib:.0f}")
        print(f"install   {install_seconds:.1f} s")
        print("installed " + " ".join(added))
        load = os.getloadavg()[0]
        started = time.monotonic()
        demo = subprocess.run([str(venv / "bin" / "s3gw"), "demo"], capture_output=True, text=True,
                              cwd=scratch, env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")})
        seconds = time.monotonic() - started
        last = (demo.stdout.strip().splitlines() or [""])[-1]
        print(f"demo      exit {demo.returncode} in {seconds:.1f} s (load average {load:.1f}): {last}")
        if demo.returncode != 0:
            print(demo.stderr[-3000:], file=sys.stderr)
        return demo.returncode


if __name__ == "__main__":
    sys.exit(main())
