"""Lambda Invoke that runs the function's real code: unzip, run the handler in a subprocess, report.

The handler runs in `sys.executable` via runner.py, with the function's environment, its timeout
(counted from the end of the init phase, as in Lambda) and an address-space limit. What comes back
is shaped as Lambda's Invoke answer: payload, FunctionError, a log tail.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

RUNNER = Path(__file__).with_name("runner.py")
INIT_LIMIT = 10.0  # seconds Lambda allows the init phase (imports) before the handler runs
LOG_TAIL_BYTES = 4096
MB = 1024 * 1024
# RLIMIT_AS caps virtual address space, not resident memory: the interpreter with boto3 maps
# ~60 MB, each thread reserves an 8 MB stack and up to a 64 MB malloc arena. A cap equal to a
# 128 MB MemorySize would break imports and threads, so the cap is generous: it stops a runaway
# allocation, while "Max Memory Used" reports the real peak.
ADDRESS_SPACE_FLOOR_MB = 512
ADDRESS_SPACE_HEADROOM_MB = 512


@dataclass(frozen=True)
class FunctionSpec:
    """What an invocation needs to know about the function, read once from moto's model."""

    account: str
    region: str
    name: str
    arn: str
    handler: str
    runtime: str
    timeout: int
    memory_mb: int
    version: str
    environment: dict[str, str]
    role_arn: str
    subnet_ids: list[str]
    security_group_ids: list[str]
    code_sha256: str
    code_zip: bytes = field(repr=False)


@dataclass
class Outcome:
    request_id: str
    payload: bytes
    function_error: str | None  # "Unhandled" when the handler raised, timed out or crashed
    log: str


def address_space_limit(memory_mb: int) -> int:
    return (max(memory_mb, ADDRESS_SPACE_FLOOR_MB) + ADDRESS_SPACE_HEADROOM_MB) * MB


def log_result_header(log: str) -> str:
    """X-Amz-Log-Result: base64 of the last 4 KB of the log."""
    return base64.b64encode(log.encode()[-LOG_TAIL_BYTES:]).decode()


class CodeCache:
    """Unpacked deployment packages, one directory per CodeSha256."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = threading.Lock()

    def directory(self, spec: FunctionSpec) -> Path:
        name = base64.urlsafe_b64encode(base64.b64decode(spec.code_sha256)).decode().rstrip("=")
        target = self._root / name
        with self._lock:
            if not target.is_dir():
                partial = self._root / f"{name}.{uuid.uuid4().hex}"
                with zipfile.ZipFile(io.BytesIO(spec.code_zip)) as archive:
                    archive.extractall(partial)
                partial.rename(target)
        return target


class Runner:
    """Runs invocations; remembers live subprocesses so that stopping the sandbox ends them."""

    def __init__(self, cache: CodeCache, scratch: Path) -> None:
        self._cache = cache
        self._scratch = scratch
        self._live: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    def run(self, spec: FunctionSpec, event: bytes, environment: dict[str, str], request_id: str) -> Outcome:
        code_dir = self._cache.directory(spec)
        result_path = self._scratch / f"{request_id}.json"
        env = {
            **environment,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
            "_S3GW_REQUEST_ID": request_id,
            "_S3GW_FUNCTION_ARN": spec.arn,
        }
        ready_read, ready_write = os.pipe()
        started = time.monotonic()
        command = [sys.executable, str(RUNNER), str(code_dir), spec.handler, str(result_path),
                   str(address_space_limit(spec.memory_mb)), str(ready_write)]
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env, cwd=code_dir, pass_fds=(ready_write,), start_new_session=True,
        )
        os.close(ready_write)
        with self._lock:
            self._live.add(process)
        output = bytearray()
        reader = threading.Thread(target=_drain, args=(process, event, output), daemon=True)
        reader.start()
        try:
            # The invoke timeout starts when the handler is imported (or the runner died: EOF).
            select.select([ready_read], [], [], INIT_LIMIT)
            init_ms = (time.monotonic() - started) * 1000
            invoke_started = time.monotonic()
            try:
                process.wait(timeout=spec.timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                peak_kb = _peak_kb(process.pid)
                _kill(process)
                timed_out = True
            duration_ms = (time.monotonic() - invoke_started) * 1000
            reader.join(timeout=5)
        finally:
            os.close(ready_read)
            with self._lock:
                self._live.discard(process)
        if timed_out:
            payload, used_kb = _timed_out(spec, request_id), peak_kb
            function_error: str | None = "Unhandled"
        else:
            payload, function_error, used_kb = _read_result(result_path, process.returncode, request_id)
        result_path.unlink(missing_ok=True)
        log = _log(spec, request_id, output.decode(errors="replace"), duration_ms, init_ms, used_kb, timed_out)
        return Outcome(request_id, payload, function_error, log)

    def stop(self) -> None:
        with self._lock:
            live = list(self._live)
        for process in live:
            _kill(process)


def new_request_id() -> str:
    return str(uuid.uuid4())


def _drain(process: subprocess.Popen[bytes], event: bytes, output: bytearray) -> None:
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(event)
        process.stdin.close()
    except BrokenPipeError:  # the runner died before reading its event; its output says why
        pass
    output.extend(process.stdout.read())


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the handler's own children too
    process.wait()


def _peak_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_result(result_path: Path, returncode: int | None, request_id: str) -> tuple[bytes, str | None, int | None]:
    """(payload, function error, peak memory in kB) from what the runner wrote."""
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # the runner died (killed, os._exit, out of memory) before writing
        how = f"exit status {returncode}"
        if returncode is not None and returncode < 0:
            how = f"signal: {signal.Signals(-returncode).name.removeprefix('SIG').lower()}"
        message = f"RequestId: {request_id} Error: Runtime exited with error: {how}"
        return json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode(), "Unhandled", None
    used_kb = result.get("max_rss_kb")
    if "error" in result:
        return json.dumps(result["error"]).encode(), "Unhandled", used_kb
    return result["payload"].encode(), None, used_kb


def _timed_out(spec: FunctionSpec, request_id: str) -> bytes:
    # The python runtimes' classic answer; newer runtimes also name errorType "Sandbox.Timedout".
    message = f"{_timestamp()} {request_id} Task timed out after {spec.timeout:.2f} seconds"
    return json.dumps({"errorMessage": message}).encode()


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _log(
    spec: FunctionSpec,
    request_id: str,
    handler_output: str,
    duration_ms: float,
    init_ms: float,
    used_kb: int | None,
    timed_out: bool,
) -> str:
    used = f"{round(used_kb / 1024)} MB" if used_kb else "unknown"
    lines = [f"START RequestId: {request_id} Version: {spec.version}"]
    lines += [line for line in handler_output.splitlines()]
    lines.append(f"END RequestId: {request_id}")
    billed = max(1, round(duration_ms))
    lines.append(
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
        f"Memory Size: {spec.memory_mb} MB\tMax Memory Used: {used}\tInit Duration: {init_ms:.2f} ms\t"
    )
    if timed_out:
        lines.append(f"{_timestamp()} {request_id} Task timed out after {spec.timeout:.2f} seconds")
    return "\n".join(lines) + "\n"
