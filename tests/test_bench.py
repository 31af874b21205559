"""The bench script must keep running as the code changes (it is not in the timed suite's assertions:
only that it completes and prints a figure for every command)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "lifecycle.py"


def test_the_lifecycle_bench_runs_and_prints_every_figure() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--runs", "1", "--no-demo"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for command in ("up (new stack)", "up (complete stack)", "plan", "status", "test-invoke", "verify", "down"):
        assert re.search(rf"^{re.escape(command)}\s+\d+\.\d+\s+\d+\.\d+\s+\d+\s+\d+$", done.stdout, re.M), command
    # The figure the lifecycle issue cares about, as printed (not a timing): a complete stack makes no mutating call.
    assert re.search(r"^up \(complete stack\)\s+\S+\s+\S+\s+\d+\s+0$", done.stdout, re.M), done.stdout


def test_the_down_linger_bench_runs_and_prints_a_figure_per_linger() -> None:
    bench = BENCH.parent / "down_linger.py"
    done = subprocess.run([sys.executable, str(bench), "--lingers", "0,0.5", "--azs", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = re.findall(r"^\s+(\d+\.\d)\s+\d+\.\d+\s+-?\d+\.\d+$", done.stdout, re.M)
    assert rows == ["0.0", "0.5"], done.stdout  # every down finished (an incomplete one says so on its row)


def test_the_timeline_bench_runs_and_lists_downs_requests() -> None:
    bench = BENCH.parent / "timeline.py"
    done = subprocess.run([sys.executable, str(bench), "--latency-ms", "0", "up", "down"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"== up: [\d.]+ s, \d+ requests, \d+ rounds", done.stdout), done.stdout
    down = done.stdout.split("== down:")[1]
    assert re.search(r"^\s+\d+\.\d+\s+\d+\.\d+\s+DeleteVpc\s", down, re.M), done.stdout


def test_the_audit_bench_runs_and_prints_requests_and_rounds() -> None:
    bench = BENCH.parent / "audit_regions.py"
    done = subprocess.run([sys.executable, str(bench), "--regions", "2", "--vpcs", "2", "--latency-ms", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    line = r"^audit: 2 regions x 2 VPCs at \S+ ms a request: \S+s, (\d+) requests, (\d+) rounds"
    found = re.findall(line, done.stdout, re.M)
    assert len(found) == 2 and all(int(requests) > 0 and int(rounds) > 0 for requests, rounds in found), done.stdout
