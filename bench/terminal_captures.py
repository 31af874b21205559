"""Take docs/*-terminal*.txt again: each command run in a 160-column tmux pane (a terminal), captured with
`tmux capture-pane -p -J` (colours dropped, the live status line as it stood).

    python bench/terminal_captures.py [--out docs]

Needs tmux and the `s3gw` executable of this checkout. Two sandboxes serve on 127.0.0.1: one whose Lambda ENIs
linger 45 s after DeleteFunction (S3GW_SANDBOX_ENI_LINGER), for `down`'s wait and for `status --graph`, and one
with a new role unusable by Lambda for 25 s, a function Pending 15 s and a new endpoint pending 12 s, for `up`'s
waits (shown every 10 s on a terminal). Nothing is asserted: it writes the files the README points at.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SESSION = "s3gw-captures"
DONE = "__capture_done__"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def sandbox(**behaviours: str) -> tuple[subprocess.Popen[str], str]:
    """A sandbox on a free port, with these S3GW_SANDBOX_* switches: the process and its URL."""
    env = {**os.environ, **behaviours}
    served = subprocess.Popen([sys.executable, "-m", "s3gw.sandbox", "--port", "0"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert served.stdout is not None
    line = served.stdout.readline()  # "AWS_ENDPOINT_URL=http://127.0.0.1:N" once it answers
    if not line.startswith("AWS_ENDPOINT_URL="):
        raise SystemExit("the sandbox did not start")
    return served, line.split("=", 1)[1].split()[0]


def environment(url: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


def quietly(url: str, workdir: Path, *args: str) -> None:
    """A command whose output is not captured (bringing a stack up for the next capture)."""
    subprocess.run(["s3gw", *args], cwd=workdir, env={**os.environ, **environment(url)}, check=False,
                   capture_output=True)


class Pane:
    """One tmux window, 160 columns: type a command line, wait for it to end, read the screen."""

    def __init__(self, workdir: Path) -> None:
        tmux("kill-session", "-t", SESSION) if subprocess.run(["tmux", "has-session", "-t", SESSION],
                                                               capture_output=True).returncode == 0 else None
        tmux("new-session", "-d", "-s", SESSION, "-x", "160", "-y", "50", "-c", str(workdir),
             "env -u NO_COLOR PS1='$ ' bash --norc --noprofile")
        tmux("set-option", "-t", SESSION, "history-limit", "10000")

    def run(self, shown: str, hidden_env: dict[str, str] | None = None, during: float | None = None) -> tuple[str, str]:
        """Type `shown` (after a hidden export), wait for it; the screen `during` s in (if asked), and at the end."""
        tmux("send-keys", "-t", SESSION, "clear && tmux clear-history", "Enter")
        time.sleep(0.5)
        if hidden_env:
            exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in hidden_env.items())
            tmux("send-keys", "-t", SESSION, f"export {exports}; clear && tmux clear-history", "Enter")
            time.sleep(0.5)
        tmux("send-keys", "-t", SESSION, f"{shown}; echo {DONE}", "Enter")
        seen_during = ""
        began = time.monotonic()
        while DONE not in self.screen().split(f"echo {DONE}")[-1]:
            if during is not None and not seen_during and time.monotonic() - began >= during:
                seen_during = self.screen()
            time.sleep(0.5)
        return seen_during, self.screen()

    def screen(self) -> str:
        return tmux("capture-pane", "-p", "-J", "-S", "-", "-t", SESSION)

    def close(self) -> None:
        tmux("kill-session", "-t", SESSION)


def tidy(screen: str) -> str:
    """The command line and its output: the trailing `echo` marker and the empty prompt lines go."""
    lines = [line.rstrip() for line in screen.splitlines()]
    lines = [line.replace(f"; echo {DONE}", "") for line in lines if line.strip() not in (DONE, "$")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="docs")
    out = Path(parser.parse_args().out)
    work = Path(tempfile.mkdtemp(prefix="s3gw-captures-"))
    linger, lingering = sandbox(S3GW_SANDBOX_ENI_LINGER="45")
    slow, slowed = sandbox(S3GW_SANDBOX_IAM_DELAY="25", S3GW_SANDBOX_PENDING="15", S3GW_SANDBOX_ENDPOINT_PENDING="12")
    pane = Pane(work)
    try:
        _, screen = pane.run("s3gw demo")
        (out / "demo-terminal.txt").write_text(tidy(screen))

        _, screen = pane.run("s3gw up --stack slow", environment(slowed))
        (out / "up-waits-terminal.txt").write_text(tidy(screen))

        quietly(lingering, work, "up", "--stack", "graph")
        _, healthy = pane.run("s3gw status --stack graph --graph", environment(lingering))
        detach = ("import boto3, json; s = json.load(open('.s3gw/graph.json'))['resources']; "
                  "boto3.client('ec2').modify_vpc_endpoint(VpcEndpointId=s['endpoint_id'], "
                  "RemoveRouteTableIds=s['route_table_ids'][:1])")
        subprocess.run([sys.executable, "-c", detach], cwd=work, env={**os.environ, **environment(lingering)},
                       check=True)
        _, drifted = pane.run("s3gw status --stack graph --graph; s3gw verify --stack graph --graph")
        (out / "status-graph-terminal.txt").write_text(tidy(healthy) + tidy(drifted))
        quietly(lingering, work, "down", "--stack", "graph", "--yes")

        quietly(lingering, work, "up", "--stack", "linger")
        during, screen = pane.run("s3gw down --stack linger --yes", environment(lingering), during=12.0)
        (out / "down-eni-wait-terminal-during.txt").write_text(tidy(during))
        (out / "down-eni-wait-terminal.txt").write_text(tidy(screen))
    finally:
        pane.close()
        for served in (linger, slow):
            served.terminate()
            served.wait()


if __name__ == "__main__":
    main()
