"""Where a function's traffic goes: the emulated VPC path, and who S3 sees calling.

Each execution environment gets its own credentials (an access key id made up for it; invoke.py reuses
environments). Every request the handler signs carries that key, so the sandbox knows which environment,
and therefore which role and, as judged for its current invocation, which network position, a request
comes from, as AWS knows a role session. The handler's endpoint URLs carry the network position:
- path good (or no VpcConfig): the sandbox itself; S3 sees aws:SourceVpce = the endpoint (VPC)
  or no SourceVpce (no VPC: Lambda's own internet access);
- path broken: the black hole, a listener whose accept queue is full, so the kernel drops the SYN
  and the client's connect timeout fires, as when a route or security group drops it in AWS.
- path through a NAT gateway (the subnet's table routes 0.0.0.0/0 to nat-… and not the S3 prefix list
  to an endpoint): the sandbox itself, every endpoint, but no SourceVpce, so a seal answers AccessDenied
  (the sources are cited in s3gw/reach.py). A route to an internet gateway alone is the black hole: a
  Lambda ENI has no public IP.
Otherwise a VPC function reaches nothing else: its other AWS endpoints are the black hole.
"""

from __future__ import annotations

import re
import secrets
import socket
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """Who calls S3 and from where, as the bucket policy sees it."""

    principal: str  # the caller's ARN (an assumed-role session for a function)
    account: str
    role_arn: str | None = None  # a function's execution role: its policies are the identity policies
    source_vpce: str | None = None
    source_vpc: str | None = None
    # The DynamoDB gateway endpoint the function's DynamoDB calls leave through (issue 22): aws:SourceVpce as
    # DynamoDB sees it; None when they go another way (a NAT gateway: no aws:SourceVpce) or the caller is the host.
    dynamodb_vpce: str | None = None

    def context(self) -> dict[str, object]:
        # SecureTransport true: the sandbox stands in for AWS's TLS endpoint even though it serves http.
        context: dict[str, object] = {
            "aws:SecureTransport": True,
            "aws:PrincipalArn": self.role_arn or self.principal,
            "aws:PrincipalAccount": self.account,
        }
        if self.source_vpce:
            context["aws:SourceVpce"] = self.source_vpce
        if self.source_vpc:
            context["aws:SourceVpc"] = self.source_vpc
        return context


def host_caller(account: str, partition: str = "aws") -> Caller:
    """Calls from outside any function: the operator, with administrator rights in the account."""
    return Caller(principal=f"arn:{partition}:iam::{account}:user/operator", account=account)


_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")


def access_key_of(authorization: str, query_credential: str = "") -> str:
    """The access key id of a SigV4 request: Authorization header, or X-Amz-Credential (presigned)."""
    match = _ACCESS_KEY.search(authorization or "")
    if match:
        return match.group(1)
    return query_credential.split("/", 1)[0] if query_credential else ""


class Callers:
    """Invocation credentials → Caller, registered for the length of one invocation."""

    def __init__(self) -> None:
        self._by_key: dict[str, Caller] = {}
        self._lock = threading.Lock()

    def register(self, caller: Caller) -> tuple[str, str]:
        """New credentials (access key id, secret) that identify `caller` until released."""
        access_key = "ASIA" + secrets.token_hex(8).upper()  # unguessable: the key is the credential
        with self._lock:
            self._by_key[access_key] = caller
        return access_key, secrets.token_hex(20)

    def update(self, access_key: str, caller: Caller) -> None:
        """Who registered credentials now identify (a reused environment's next invocation)."""
        with self._lock:
            self._by_key[access_key] = caller

    def release(self, access_key: str) -> None:
        with self._lock:
            self._by_key.pop(access_key, None)

    def get(self, access_key: str) -> Caller | None:
        with self._lock:
            return self._by_key.get(access_key)


class BlackHole:
    """A TCP port that never completes a connection.

    listen(0) plus one connection that is never accepted fills the accept queue; Linux then drops
    every further SYN, so clients see a connect timeout (botocore: ConnectTimeoutError). Where a
    kernel accepts anyway, the connection is never answered and the read timeout fires instead.
    """

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        self._filler = socket.create_connection(("127.0.0.1", self.port))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._filler.close()
        self._listener.close()
