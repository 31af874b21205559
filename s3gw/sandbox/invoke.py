"""Lambda Invoke that runs the function's real code: unzip, run the handler in a subprocess, report.

The handler runs in `sys.executable` via runner.py, with the function's environment, its timeout
(counted from the end of the init phase, as in Lambda) and an address-space limit. What comes back
is shaped as Lambda's Invoke answer: payload, FunctionError, a log tail.

A runner process is one execution environment, and is reused as Lambda reuses them: "After the function and
all extensions have completed, Lambda maintains the execution environment for some time in anticipation of
another function invocation ... When the function is invoked again, Lambda thaws the environment for reuse",
and the init code (imports) runs only in a new one; "If the Lambda function crashes or times out during the
Invoke phase, Lambda resets the execution environment" (Lambda developer guide, "Understanding the Lambda
execution environment lifecycle": https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
So an idle environment serves the next invocation of the same function, code and configuration, one
invocation at a time (concurrent ones get new environments); one that timed out or died is gone. Its
credentials belong to the environment, as Lambda's do (its environment variables); who it is to S3 and its
network position are judged again at every invocation, and an invocation whose endpoints differ from the
environment's gets a new one. "Init Duration" is reported only for an invocation that started an environment,
as Lambda does.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .network import Caller, Callers

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
# Idle environments kept at most (Lambda keeps them "for some time"; the sandbox bounds them by count instead):
# each is an interpreter with the function's imports loaded.
MAX_IDLE = 2
# The variables that differ between two environments of one configuration: not a reason to start another.
_PER_ENVIRONMENT = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_LOG_STREAM_NAME")


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
    ipv6_allowed: bool = False  # VpcConfig.Ipv6AllowedForDualStack


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


@dataclass
class _Environment:
    """A runner process: one execution environment, with its credentials."""

    process: subprocess.Popen[bytes]
    control: int  # the read end of the runner's CONTROL_FD
    access_key: str
    shape: tuple[object, ...]  # what must match for an invocation to reuse it (Runner._shape)


class Runner:
    """Runs invocations in execution environments (runner processes), reusing idle ones; stop() ends them all."""

    def __init__(self, cache: CodeCache, scratch: Path) -> None:
        self._cache = cache
        self._scratch = scratch
        self.callers = Callers()  # the environments' credentials -> who calls (network.py)
        self._idle: list[_Environment] = []  # oldest first
        self._live: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    def run(self, spec: FunctionSpec, event: bytes, request_id: str, caller: Caller,
            environment: Callable[[str, str], dict[str, str]]) -> Outcome:
        """One invocation. `environment(access_key, secret)` is the function's environment for these
        credentials, the network position (endpoint URLs) of this invocation included."""
        shape = self._shape(spec, environment("", ""))
        result_path = self._scratch / f"{request_id}.json"
        output_path = self._scratch / f"{request_id}.log"
        output_path.touch(mode=0o600)
        started = time.monotonic()
        warm = self._take(shape)
        if warm is not None:
            self.callers.update(warm.access_key, caller)
        current = warm or self._start(spec, shape, caller, environment, output_path)
        request = {"request_id": request_id, "event": event.decode(), "result": str(result_path),
                   "output": str(output_path)}
        alive = _send(current.process, json.dumps(request).encode() + b"\n")
        # The invoke timeout starts when the handler is imported (or the runner died: EOF).
        got = _wait_for(current.control, b".", INIT_LIMIT if alive else 0)
        init_ms = (time.monotonic() - started) * 1000 if warm is None else None
        invoke_started = time.monotonic()
        done = None if got is None else _wait_for(current.control, b"!", spec.timeout)
        duration_ms = (time.monotonic() - invoke_started) * 1000
        timed_out = done is False
        peak_kb = _peak_kb(current.process.pid) if timed_out else None
        if done:
            self._keep(current)
        else:  # timed out or died: the environment is reset
            self._end(current)
        if timed_out:
            payload, used_kb = _timed_out(spec, request_id), peak_kb
            function_error: str | None = "Unhandled"
        else:
            payload, function_error, used_kb = _read_result(result_path, current.process.returncode, request_id)
        result_path.unlink(missing_ok=True)
        output = output_path.read_bytes().decode(errors="replace")
        output_path.unlink(missing_ok=True)
        log = _log(spec, request_id, output, duration_ms, init_ms, used_kb, timed_out)
        return Outcome(request_id, payload, function_error, log)

    def stop(self) -> None:
        with self._lock:
            live, idle, self._idle = list(self._live), self._idle, []
        for process in live:
            _kill(process)
        for environment in idle:
            os.close(environment.control)

    @staticmethod
    def _shape(spec: FunctionSpec, environment: dict[str, str]) -> tuple[object, ...]:
        variables = tuple(sorted((k, v) for k, v in environment.items() if k not in _PER_ENVIRONMENT))
        return (spec.arn, spec.version, spec.code_sha256, spec.handler, spec.timeout, spec.memory_mb, variables)

    def _take(self, shape: tuple[object, ...]) -> _Environment | None:
        with self._lock:
            for idle in self._idle:
                if idle.shape == shape and idle.process.poll() is None:
                    self._idle.remove(idle)
                    return idle
        return None

    def _start(self, spec: FunctionSpec, shape: tuple[object, ...], caller: Caller,
               environment: Callable[[str, str], dict[str, str]], output_path: Path) -> _Environment:
        code_dir = self._cache.directory(spec)
        access_key, secret = self.callers.register(caller)
        env = {**environment(access_key, secret), "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
               "_S3GW_FUNCTION_ARN": spec.arn}
        control_read, control_write = os.pipe()
        command = [sys.executable, str(RUNNER), str(code_dir), spec.handler,
                   str(address_space_limit(spec.memory_mb)), str(control_write)]
        try:
            # Until the runner takes its first invocation, what it prints (an interpreter that cannot start)
            # goes to that invocation's log too.
            with output_path.open("ab") as output:
                process = subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT,
                    env=env, cwd=code_dir, pass_fds=(control_write,), start_new_session=True,
                )
        except BaseException:
            os.close(control_read)
            self.callers.release(access_key)
            raise
        finally:
            os.close(control_write)
        with self._lock:
            self._live.add(process)
        return _Environment(process, control_read, access_key, shape)

    def _keep(self, environment: _Environment) -> None:
        """Back to the idle ones; an idle one of the same function that no longer fits (new code or
        configuration) and the oldest beyond MAX_IDLE end."""
        arn = environment.shape[0]
        with self._lock:
            stale = [e for e in self._idle if e.shape[0] == arn and e.shape != environment.shape]
            self._idle = [e for e in self._idle if e not in stale] + [environment]
            while len(self._idle) > MAX_IDLE:
                stale.append(self._idle.pop(0))
        for old in stale:
            self._end(old)

    def _end(self, environment: _Environment) -> None:
        _kill(environment.process)
        os.close(environment.control)
        self.callers.release(environment.access_key)
        with self._lock:
            self._live.discard(environment.process)


def _send(process: subprocess.Popen[bytes], line: bytes) -> bool:
    """The invocation to the runner; False when it is gone (its result then says how it ended)."""
    assert process.stdin is not None
    try:
        process.stdin.write(line)
        process.stdin.flush()
        return True
    except (BrokenPipeError, ValueError):
        return False


def _wait_for(control: int, signal_byte: bytes, timeout: float) -> bool | None:
    """Read the runner's control bytes until `signal_byte`: True; False when `timeout` passes first;
    None at EOF (the runner is gone)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if not select.select([control], [], [], max(0.0, remaining))[0]:
            return False
        received = os.read(control, 1)
        if not received:
            return None
        if received == signal_byte:
            return True


def new_request_id() -> str:
    return str(uuid.uuid4())


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the handler's own children too
    process.wait()
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()


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
    init_ms: float | None,
    used_kb: int | None,
    timed_out: bool,
) -> str:
    used = f"{round(used_kb / 1024)} MB" if used_kb else "unknown"
    lines = [f"START RequestId: {request_id} Version: {spec.version}"]
    lines += [line for line in handler_output.splitlines()]
    lines.append(f"END RequestId: {request_id}")
    billed = max(1, round(duration_ms))
    init = f"Init Duration: {init_ms:.2f} ms\t" if init_ms is not None else ""  # a new environment's only
    lines.append(
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
        f"Memory Size: {spec.memory_mb} MB\tMax Memory Used: {used}\t{init}"
    )
    if timed_out:
        lines.append(f"{_timestamp()} {request_id} Task timed out after {spec.timeout:.2f} seconds")
    return "\n".join(lines) + "\n"
