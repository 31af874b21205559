"""Runs a Lambda handler in its own interpreter: the sandbox's stand-in for one execution environment.

Run as a script (not imported): `python runner.py CODE_DIR HANDLER ADDRESS_SPACE CONTROL_FD`, the function's
environment in the process environment. Standard library only, because the function's code comes first on
sys.path. Invocations come on stdin, one JSON line each: {"request_id", "event" (JSON text), "result" (a file
path), "output" (a file path)}. For each, the handler's stdout and stderr go to "output"; the runner writes
"." to CONTROL_FD once the handler is imported (the first invocation's init phase; at once for the later
ones: Lambda's invoke timeout starts there), then the outcome as JSON to "result": {"payload": "<the result as
JSON text>"} or {"error": {errorMessage, errorType, ...}}, then "!" to CONTROL_FD, and waits for the next.
An init failure writes its outcome and ends the process (no "!"): Lambda does not reuse that environment.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The attributes and method of the runtime's context object that handlers commonly use."""

    def __init__(self, request_id: str, deadline: float) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("_S3GW_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def main(argv: list[str]) -> int:
    code_dir, handler_name, address_space, control_fd = argv[1:5]
    control = int(control_fd)
    os.set_inheritable(control, False)  # the handler's own children get neither this nor the requests
    requests = os.fdopen(os.dup(0), "rb")
    empty = os.open(os.devnull, os.O_RDONLY)
    os.dup2(empty, 0)  # the handler's stdin (and its children's): empty, as the old one-shot runner left it
    os.close(empty)
    _limit_address_space(int(address_space))
    sys.path[0] = code_dir  # in place of this file's directory
    os.chdir(code_dir)
    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
    handler = None
    while line := requests.readline():  # the sandbox closes our stdin (or kills us) to end the environment
        request = json.loads(line)
        _output_to(request["output"])
        request_id, result_path = request["request_id"], request["result"]
        if handler is None:
            try:
                handler = _load(handler_name)
            except _InitError as failure:
                _print_error(failure.error_type, failure.message, [])
                os.write(control, b".")
                _finish(result_path, {"error": _payload(failure.error_type, failure.message, request_id, [])})
                return 0  # no "!": the sandbox sees the environment end, and reads this outcome
        os.write(control, b".")
        event = json.loads(request["event"] or "{}")
        _finish(result_path, _invoke(handler, event, LambdaContext(request_id, time.time() + timeout)))
        os.write(control, b"!")
    return 0


def _invoke(handler: Any, event: Any, context: LambdaContext) -> dict[str, Any]:
    request_id = context.aws_request_id
    try:
        result = handler(event, context)
    except Exception as exc:  # what the handler raises is the function's error, as Lambda reports it
        stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])  # minus this frame
        error_type = type(exc).__name__
        _print_error(error_type, str(exc), stack)
        return {"error": _payload(error_type, str(exc), request_id, stack)}
    try:
        return {"payload": json.dumps(result)}
    except (TypeError, ValueError) as exc:
        message = f"Unable to marshal response: {exc}"
        _print_error("Runtime.MarshalError", message, [])
        return {"error": _payload("Runtime.MarshalError", message, request_id, [])}


def _output_to(path: str) -> None:
    """This invocation's stdout and stderr (the handler's children inherit them): its log, read by the sandbox."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


class _InitError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def _load(handler_name: str) -> Any:
    """The runtime's rules: "path/module.function"; the same error types as the python runtime."""
    module_name, _, function_name = handler_name.rpartition(".")
    if not module_name or not function_name:
        raise _InitError("Runtime.MalformedHandlerName", f"Bad handler '{handler_name}': not enough values to unpack")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise _InitError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}") from None
    except Exception as exc:
        raise _InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from None
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise _InitError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


def _limit_address_space(limit: int) -> None:
    if limit <= 0:
        return
    with contextlib.suppress(ValueError, OSError):  # not allowed here (a lower hard limit): run unlimited
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _payload(error_type: str, message: str, request_id: str, stack: list[str]) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}


def _print_error(error_type: str, message: str, stack: list[str]) -> None:
    trace = "".join(stack)
    lines = f"[ERROR] {error_type}: {message}" + (f"\nTraceback (most recent call last):\n{trace}" if trace else "")
    print(lines.rstrip("\n"), file=sys.stderr, flush=True)


def _peak_kb() -> int:
    # VmHWM belongs to this program's memory map; ru_maxrss would also count the sandbox's pages
    # that the child shared between fork and exec.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _finish(result_path: str, outcome: dict[str, Any]) -> None:
    outcome["max_rss_kb"] = _peak_kb()
    sys.stdout.flush()
    sys.stderr.flush()
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(outcome, out)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
