"""The boto3 session and its clients: region, profile, endpoint, retry mode, user agent."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Collection
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from s3gw import __version__
from s3gw.botocore_data import botocore_session, partition_of
from s3gw.config import StackConfig
from s3gw.errors import AwsError, NoAnswer, UsageError, translate

# Standard mode retries throttling, 5xx and connection errors with jittered backoff; s3gw adds only
# what it lacks (IAM propagation, DependencyViolation, NotFound right after a create) in the steps.
RETRY_CONFIG = {"mode": "standard", "total_max_attempts": 8}
# An endpoint that accepts a connection and never answers would cost 8 tries x the read timeout; one that
# drips a byte now and then never trips a read timeout at all (it bounds each recv, not the reply). So each
# API call, retries included, also has a wall-clock bound (S3GW_CALL_TIMEOUT seconds).
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 20
CALL_TIMEOUT = 60.0
ENV_CALL_TIMEOUT = "S3GW_CALL_TIMEOUT"


class Aws:
    """Clients made once per run, lazily: a command that needs no S3 never builds an S3 client."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.session = boto3.session.Session(botocore_session=botocore_session(), profile_name=config.profile,
                                             region_name=config.region)
        self._botocore_config = Config(
            region_name=config.region,
            retries=retry_config(),  # type: ignore[arg-type]
            user_agent_extra=f"s3gw/{__version__}",
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
        )
        self.call_timeout = call_timeout_from_env()
        self._lock = threading.Lock()  # a session is not thread-safe; the clients it makes are
        self._account: str | None = None
        self._account_lock = threading.Lock()  # this Aws's own (see account)

    def prepare(self) -> None:
        """Make every client now, in this thread, before steps run at once in others (commands.walk)."""
        for name in ("ec2", "ec2_once", "s3", "iam", "lambda_", "sts", *(("dynamodb",) if self.config.table else ())):
            getattr(self, name)

    def client(self, service: str, *, attempts: int | None = None) -> Any:
        config = self._botocore_config
        if attempts is not None:
            config = config.merge(Config(retries={"mode": "standard", "total_max_attempts": attempts}))
        with self._lock:
            client = self.session.client(service, endpoint_url=self.config.endpoint_url, config=config)
        if self.call_timeout > 0:
            bound = CallBound(self.call_timeout, self.config.endpoint_url or f"{service} in {self.config.region}")
            # Last, so that a before-call handler that raises (or answers) leaves no timer armed.
            client.meta.events.register_last("before-call", bound.arm)
            client.meta.events.register_first("after-call", bound.disarm)
            client.meta.events.register_first("after-call-error", bound.disarm)
            client.meta.events.register("needs-retry", bound.note)  # each try's answer, before botocore retries
        return client

    @cached_property
    def ec2(self) -> Any:
        return self.client("ec2")

    @cached_property
    def ec2_once(self) -> Any:
        """EC2 without botocore's retries, for creates that take no ClientToken (see steps.base.create_once)."""
        return self.client("ec2", attempts=1)

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def dynamodb(self) -> Any:  # the DynamoDB lane (--table): made when a step first uses it
        return self.client("dynamodb")

    @cached_property
    def iam(self) -> Any:
        return self.client("iam")

    @cached_property
    def lambda_(self) -> Any:
        return self.client("lambda")

    @cached_property
    def logs(self) -> Any:  # `s3gw logs`: the function's CloudWatch log group
        return self.client("logs")

    @cached_property
    def sts(self) -> Any:
        return self.client("sts")

    @property
    def account(self) -> str:
        """The caller's account, read once. Not a functools.cached_property: on Python 3.11 its lock is one for
        every instance of the class, held while GetCallerIdentity is in flight, so a call that never answered in
        one Aws (a command given up on, its thread still blocked) held up every later Aws's read of its account
        (30-80 s in the tests that follow the never-answering-endpoint ones)."""
        with self._account_lock:
            if self._account is None:
                try:
                    self._account = str(self.sts.get_caller_identity()["Account"])
                except Exception as exc:
                    raise translate(exc, "finding the AWS account (sts:GetCallerIdentity)") from exc
            return self._account

    @property
    def partition(self) -> str:
        return partition_of(self.config.region)


def retry_config() -> dict[str, Any]:
    """RETRY_CONFIG, with AWS_RETRY_MODE and AWS_MAX_ATTEMPTS when set (botocore reads them only when the client's
    Config names no retries; config.validate_environment refused bad values before any call)."""
    mode = os.environ.get("AWS_RETRY_MODE", "").strip()
    attempts = os.environ.get("AWS_MAX_ATTEMPTS", "").strip()
    return {**RETRY_CONFIG, **({"mode": mode} if mode else {}),
            **({"total_max_attempts": int(attempts)} if attempts.isdigit() else {})}


def call_timeout_from_env() -> float:
    text = os.environ.get(ENV_CALL_TIMEOUT, "").strip()
    if not text:
        return CALL_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{ENV_CALL_TIMEOUT} must be a number of seconds, not {text!r}") from None
    if not math.isfinite(value) or value < 0:  # nan: every comparison false, so no bound at all
        raise UsageError(f"{ENV_CALL_TIMEOUT} must be zero (no bound) or more seconds, not {text!r}")
    return value


# The calls under way in threads other than the main one (commands.walk), by thread: when each must
# have been answered, and what to say if not. SIGALRM cannot reach those threads, so the main thread looks
# (overdue_call) while it waits for them, and gives up on the run when one is overdue.
_IN_FLIGHT: dict[int, tuple[float, CallBound]] = {}


def overdue_call(threads: Collection[int]) -> None:
    """Raise NoAnswer for the first call still unanswered after its bound among `threads` (the walker's own: a
    thread an earlier run gave up on, still blocked, is not this run's business)."""
    now = time.monotonic()
    for ident in list(threads):
        entry = _IN_FLIGHT.get(ident)
        if entry is not None and now > entry[0]:
            raise entry[1].no_answer()


# What AWS answers a request over the account's rate: botocore's own list (botocore/retries/standard.py,
# ThrottledRetryableChecker._THROTTLED_ERROR_CODES), and HTTP 429 (ThrottlingStatusCodeChecker).
THROTTLED_CODES = frozenset((
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException"))


def throttled_code(response: Any) -> str:
    """The throttling error code of one try's answer (botocore's (http, parsed) pair), or ""."""
    if not response:
        return ""
    http, parsed = response
    code = str(((parsed or {}).get("Error") or {}).get("Code", ""))
    if code in THROTTLED_CODES:
        return code
    if getattr(http, "status_code", 0) == 429:
        return code or "HTTP 429"
    return ""


class CallBound:
    """A wall-clock bound on one API call (all its tries): by SIGALRM in the main thread; in other threads by
    the main thread watching _IN_FLIGHT (overdue_call), which abandons the worker, still blocked, when it
    raises. The error is not botocore's, so botocore does not retry it."""

    def __init__(self, seconds: float, where: str) -> None:
        self.seconds = seconds
        self.where = where
        self.operation = ""
        self._previous: Any = None
        self._other_until = 0.0
        self._armed = False
        self.throttled = ""  # the last try's throttling code: the call was being throttled, not left unanswered

    def arm(self, model: Any = None, **_: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            operation = getattr(model, "name", "") or "a call"
            _IN_FLIGHT[threading.get_ident()] = (time.monotonic() + self.seconds, self._for(operation))
            return
        self.operation = getattr(model, "name", "") or "a call"
        self.throttled = ""
        self._previous = signal.signal(signal.SIGALRM, self._expired)
        # Someone else's timer (a test runner's, say) is put back, less the time spent, on disarm.
        pending, _ = signal.setitimer(signal.ITIMER_REAL, self.seconds)
        self._other_until = time.monotonic() + pending if pending > 0 else 0.0
        self._armed = True

    def _for(self, operation: str) -> CallBound:
        """A copy naming one call (a client's bound is shared by the threads using the client)."""
        bound = CallBound(self.seconds, self.where)
        bound.operation = operation
        return bound

    def note(self, response: Any = None, **_: Any) -> None:
        """botocore's needs-retry: what each try answered, so that a call whose tries were throttled until its bound
        ran out says so (the bound of a call in another thread is its own copy, in _IN_FLIGHT)."""
        entry = _IN_FLIGHT.get(threading.get_ident())
        bound = entry[1] if entry is not None and threading.current_thread() is not threading.main_thread() else self
        bound.throttled = throttled_code(response)

    def disarm(self, **_: Any) -> None:
        _IN_FLIGHT.pop(threading.get_ident(), None)
        if not self._armed:
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous or signal.SIG_DFL)
        if self._other_until:
            signal.setitimer(signal.ITIMER_REAL, max(self._other_until - time.monotonic(), 0.001))
        self._armed = False

    def _expired(self, signum: int, frame: Any) -> None:
        self.disarm()
        raise self.no_answer()

    def no_answer(self) -> NoAnswer:
        if self.throttled:
            return NoAnswer(AwsError(
                f"{self.operation} was throttled by {self.where} ({self.throttled}) until its bound of "
                f"{self.seconds:.0f}s ran out", "the account's request rate is used up (other tools share it): run "
                f"the command again in a minute (what was made is recorded); {ENV_CALL_TIMEOUT} sets the bound"))
        return NoAnswer(AwsError(
            f"no answer to {self.operation} from {self.where} within {self.seconds:.0f}s",
            "the endpoint accepts connections but does not reply: check --endpoint-url, your network or proxy; "
            f"run the command again (what was made is recorded); {ENV_CALL_TIMEOUT} sets the bound"))
