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
EXIT_DECLINED = 5  # the user answered no to a prompt (or gave no answer): nothing was changed
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
# A URL's user:password@ (RFC 3986 "userinfo"): an endpoint URL may carry one; s3gw never prints it.
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]*@", re.IGNORECASE)


def redact(text: str) -> str:
    """No secret in a line s3gw prints: signing headers, a header value quoted whole, a URL's userinfo."""
    text = _HEADER_VALUE.sub("an invalid character in a request header (a line break in an option?)", text)
    text = _USERINFO.sub(r"\1", text)
    return _SECRETS.sub(lambda m: f"{m.group(1)}=<redacted>", text)


def redact_lines(text: str) -> str:
    """redact() line by line (a traceback): a quoted header value hides only the rest of its own line."""
    return "\n".join(redact(line) for line in text.split("\n"))


class UsageError(S3gwError):
    """Bad input: an option, a name, a CIDR, a state file. Raised before any AWS call."""

    exit_code = EXIT_USAGE


class StateError(UsageError):
    """A state file that is corrupt, of another schema, or of another stack, region or account."""


class LockedError(S3gwError):
    """The stack is locked by another run."""

    exit_code = EXIT_LOCKED


class Declined(S3gwError):
    """The user answered no (or nothing) to a prompt: not a failure, and nothing was changed."""

    exit_code = EXIT_DECLINED


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


class NoAnswer(BaseException):  # noqa: N818 - not an Exception: botocore wraps and retries every Exception
    """An AWS call ran past its wall-clock bound (s3gw.aws.CallBound). A BaseException, like Ctrl-C, so that
    botocore's retries and the steps' handlers let it through; cli.py reports `error` as one line."""

    def __init__(self, error: S3gwError) -> None:
        super().__init__(error.message)
        self.error = error


def error_code(exc: BaseException) -> str:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_message(exc: BaseException) -> str:
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")) or str(exc)


# EC2 answers AuthFailure and STS InvalidClientTokenId both for a wrong key and in an opt-in region the account
# has not enabled (AWS Account Management guide, "Enable or disable AWS Regions in your account").
_NOT_VALID_HERE = ("the credentials were refused in this region: check the access key (AWS_PROFILE), and if this is an "
                   "opt-in region, that it is enabled for the account (aws account list-regions)")
_HINTS: dict[str, str] = {
    "UnauthorizedOperation": "the operator lacks an EC2 permission; 's3gw permissions' prints all s3gw needs",
    "AccessDenied": "the operator lacks a permission; 's3gw permissions' prints all s3gw needs",
    "AccessDeniedException": "the operator lacks a permission; 's3gw permissions' prints all s3gw needs",
    "ExpiredToken": "your AWS session expired; refresh your credentials (aws sso login, or new keys)",
    "ExpiredTokenException": "your AWS session expired; refresh your credentials (aws sso login, or new keys)",
    "InvalidClientTokenId": _NOT_VALID_HERE,
    "AuthFailure": _NOT_VALID_HERE,
    "UnrecognizedClientException": _NOT_VALID_HERE,
    "SignatureDoesNotMatch": "the secret key does not match the access key; check your credentials",
    "BucketAlreadyExists": "that bucket name belongs to another account; choose another with --bucket",
    "VpcLimitExceeded": "the region's VPC quota is used up; delete an unused VPC or choose another --region",
    "AddressLimitExceeded": "a quota is used up in this region; free some or choose another --region",
    "DependencyViolation": "something still uses the resource; wait a few minutes and run the command again",
    "OptInRequired": "the account is not subscribed to this service or region; enable it or choose another --region",
}


# "Credential should be scoped to a valid region, not 'us-est-1'." (SignatureDoesNotMatch / InvalidSignatureException)
_SCOPED_TO = re.compile(r"scoped to a valid region, not '([^']*)'", re.IGNORECASE)
_NOT_AUTHORIZED = re.compile(r"not authorized to perform:? ([a-z0-9-]+:[A-Za-z0-9]+)")
_ON_RESOURCE = re.compile(r"User: (\S+) is not authorized to perform:? \S+(?: on resource:? \"?([^\s\"]+))?")


def missing_permission(message: str) -> str:
    """The action an AccessDenied message names ("User: … is not authorized to perform: ec2:CreateVpc on …",
    IAM User Guide, "Troubleshoot access denied error messages"), or ""."""
    match = _NOT_AUTHORIZED.search(message)
    return match.group(1) if match else ""


def _who(message: str) -> str:
    match = _ON_RESOURCE.search(message)
    if not match:
        return "AWS refused it"
    return f"{match.group(1)}" + (f" on {match.group(2)}" if match.group(2) else "")


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
        message = error_message(exc)
        scoped = _SCOPED_TO.search(message)
        if scoped:  # the endpoint knows no such region (SigV4's answer to a credential scope naming it)
            return UsageError(f"unknown region {scoped.group(1)!r}: the endpoint has no such region ({doing})",
                              "check the spelling of --region / AWS_REGION (aws ec2 describe-regions)")
        missing = missing_permission(message)
        if missing:  # AWS names the action: say which permission to add, not the whole 400-character message
            return AwsError(f"{doing}: {code}: the operator may not {missing} ({_who(message)})",
                            f"add {missing} to the operator's policy; 's3gw permissions' prints all s3gw needs")
        if "not enabled" in message.lower() or "not opted in" in message.lower():
            return AwsError(f"{doing}: the region is not enabled for this account ({code}: {message})",
                            "enable it (aws account enable-region --region-name REGION), or choose another --region")
        return AwsError(f"{doing}: {code}: {message}", _HINTS.get(code, ""))
    return AwsError(f"{doing}: {type(exc).__name__}: {exc}")
