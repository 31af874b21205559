"""The S3gwError hierarchy: one message, one hint, one exit code; and the translation of botocore errors.

cli.py catches exactly S3gwError and exits with its code; anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import re
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CHECK = 3
EXIT_LOCKED = 4
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT
EXIT_TERMINATED = 143  # SIGTERM: 128 + SIGTERM


class S3gwError(Exception):
    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def line(self) -> str:
        return redact(f"{self.message} — {self.hint}" if self.hint else self.message)


# What a request's signing header carries. An error that quotes a request (http.client's "Invalid header
# value b'AWS4-HMAC-SHA256 Credential=AKIA…/…, Signature=…'") must not print the access key or signature.
_SECRETS = re.compile(r"(Credential|Signature|SignedHeaders|X-Amz-Security-Token|X-Amz-Credential|"
                      r"X-Amz-Signature)=[^\s,&'\"]*", re.IGNORECASE)
_HEADER_VALUE = re.compile(r"Invalid (?:header value|return character or leading space in header:)[\s\S]*",
                           re.IGNORECASE)


def redact(text: str) -> str:
    text = _HEADER_VALUE.sub("an invalid character in a request header (a line break in an option?)", text)
    return _SECRETS.sub(lambda m: f"{m.group(1)}=<redacted>", text)


class UsageError(S3gwError):
    """Bad input: an option, a name, a CIDR, a state file. Raised before any AWS call."""

    exit_code = EXIT_USAGE


class StateError(UsageError):
    """A state file that is corrupt, of another schema, or of another stack, region or account."""


class LockedError(S3gwError):
    """The stack is locked by another run."""

    exit_code = EXIT_LOCKED


class StateConflict(LockedError):
    """The state changed since this run read it (another run took the lock): the write was refused."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C: locks freed, state whole."""


class AwsError(S3gwError):
    """An AWS call failed; the message says which and why, the hint what to do."""


class CheckFailed(S3gwError):
    """A check found something wrong: drift, a broken link, a failed invocation."""

    exit_code = EXIT_CHECK


class WaitTimeout(AwsError):
    """A bounded wait ran out (lingering ENIs, a function that never turned Active)."""


def error_code(exc: BaseException) -> str:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_message(exc: BaseException) -> str:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")) or str(exc)


_HINTS: dict[str, str] = {
    "UnauthorizedOperation": "the operator lacks an EC2 permission; see 'IAM permissions' in the README",
    "AccessDenied": "the operator lacks a permission; see 'IAM permissions' in the README",
    "AccessDeniedException": "the operator lacks a permission; see 'IAM permissions' in the README",
    "ExpiredToken": "your AWS session expired; refresh your credentials (aws sso login, or new keys)",
    "ExpiredTokenException": "your AWS session expired; refresh your credentials (aws sso login, or new keys)",
    "InvalidClientTokenId": "the access key is not valid; check AWS_PROFILE or your credentials",
    "SignatureDoesNotMatch": "the secret key does not match the access key; check your credentials",
    "BucketAlreadyExists": "that bucket name belongs to another account; choose another with --bucket",
    "VpcLimitExceeded": "the region's VPC quota is used up; delete an unused VPC or choose another --region",
    "AddressLimitExceeded": "a quota is used up in this region; free some or choose another --region",
    "DependencyViolation": "something still uses the resource; wait a few minutes and run the command again",
    "OptInRequired": "the account is not subscribed to this service or region; enable it or choose another --region",
}


def translate(exc: BaseException, doing: str) -> S3gwError:
    """One line for a botocore error: what failed, why, and what to do."""
    from botocore.exceptions import (  # imported here: `s3gw --help` must not import botocore
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    if isinstance(exc, S3gwError):
        return exc
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AwsError(
            f"{doing}: no AWS credentials found",
            "run 'aws configure' or set AWS_PROFILE, or try 's3gw demo' which needs no account",
        )
    if isinstance(exc, ProfileNotFound):
        return UsageError(str(exc), "check --profile / AWS_PROFILE against ~/.aws/config")
    if isinstance(exc, NoRegionError):
        return UsageError("no region given", "pass --region or set AWS_REGION")
    if isinstance(exc, EndpointConnectionError):
        return AwsError(f"{doing}: cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}",
                        "check --endpoint-url and your network")
    if isinstance(exc, ParamValidationError):
        return UsageError(f"{doing}: {exc}")
    if isinstance(exc, ClientError):
        code = error_code(exc)
        return AwsError(f"{doing}: {code}: {error_message(exc)}", _HINTS.get(code, ""))
    return AwsError(f"{doing}: {type(exc).__name__}: {exc}")
