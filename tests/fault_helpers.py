"""Fault injection for the tests/test_faults_*.py files: hooks on the clients s3gw makes, crashes, counts.

Faults go in through botocore's event system on the very clients s3gw builds (as conftest's `call_log`
does): `before-call` / `after-call` to crash or to answer for AWS, `before-send` to fail at the HTTP layer
so that botocore's own retry machinery runs.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest

REGION = "eu-west-1"
READ_PREFIXES = ("Describe", "Get", "List", "Head")

EMPTY = {"vpcs": 0, "subnets": 0, "route_tables": 0, "endpoints": 0, "security_groups": 0, "roles": 0,
         "functions": 0, "buckets": 0, "enis": 0}
# VPC, 3 subnets, 3 own tables + the main table, endpoint, SG + the VPC's default SG, role, function, bucket
# (plain moto makes no Lambda ENIs; the sandbox does)
ONE_STACK = {"vpcs": 1, "subnets": 3, "route_tables": 4, "endpoints": 1, "security_groups": 2, "roles": 1,
             "functions": 1, "buckets": 1, "enis": 0}


class Crash(BaseException):
    """The process dies here. A BaseException, so no `except Exception` in s3gw can swallow it."""


def on_every_client(monkeypatch: pytest.MonkeyPatch, register: Callable[[Any, str], None]) -> None:
    """Call register(client, service) for every client s3gw makes from now on (see conftest's call_log)."""
    from s3gw.aws import Aws

    original = Aws.client

    def client(self: Aws, service: str, **options: Any) -> Any:
        made = original(self, service, **options)
        register(made, service)
        return made

    monkeypatch.setattr(Aws, "client", client)


def share_botocore_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Speed only: every Aws() builds a new boto3 Session, which parses the EC2 model again (~0.15 s a
    client). One cached loader for all sessions makes a crash case ~2x faster; behaviour is unchanged."""
    import botocore.loaders
    import botocore.session

    loader = functools.cache(botocore.loaders.create_loader)
    monkeypatch.setattr(botocore.session, "create_loader", loader)


def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests only: botocore's standard retry mode sleeps up to 20 s between attempts. The retry decisions
    (which errors, how many attempts, the retry quota) are unchanged; only the sleep becomes zero."""
    import botocore.retries.standard

    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


def client_error(code: str, message: str, operation: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                       operation)


def count_resources(endpoint_url: str | None = None) -> dict[str, int]:
    """What exists in the (mocked) account, by kind, apart from the default VPC and its parts."""
    options: dict[str, Any] = {"region_name": REGION, "endpoint_url": endpoint_url}
    ec2 = boto3.client("ec2", **options)
    default_vpcs = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v.get("IsDefault")}
    return {
        "vpcs": len([v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]),
        "subnets": len([s for s in ec2.describe_subnets()["Subnets"] if s["VpcId"] not in default_vpcs]),
        "route_tables": len([t for t in ec2.describe_route_tables()["RouteTables"] if t["VpcId"] not in default_vpcs]),
        "endpoints": len([e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["State"].lower() != "deleted"]),
        "security_groups": len([g for g in ec2.describe_security_groups()["SecurityGroups"]
                                if g["VpcId"] not in default_vpcs]),
        "roles": len([r for r in boto3.client("iam", **options).list_roles()["Roles"]
                      if not r["Path"].startswith("/aws-service-role/")]),
        "functions": len(boto3.client("lambda", **options).list_functions()["Functions"]),
        "buckets": len(boto3.client("s3", **options).list_buckets()["Buckets"]),
        "enis": len([e for e in ec2.describe_network_interfaces()["NetworkInterfaces"]
                     if e.get("VpcId") not in default_vpcs]),
    }


class Injector:
    """Counts the mutating calls of every client; when armed, crashes at call number `at` (or at the first call
    named `at_name`), "before" the call is sent or "after" AWS acted but before s3gw sees the answer."""

    def __init__(self) -> None:
        self.armed = False
        self.at = -1
        self.at_name = ""
        self.occurrence = 0  # with at_name: crash at this one of the calls so named (0: the first)
        self.when = "before"
        self.mutating: list[str] = []
        self.crashed_at: str | None = None
        # Each thread's last mutating call and its number: steps run at once (commands.walk.walk_steps).
        self.last: dict[int, tuple[str, int]] = {}

    def arm(self, at: int = -1, when: str = "before", at_name: str = "", occurrence: int = 0) -> None:
        self.armed, self.at, self.at_name, self.when, self.mutating, self.crashed_at = (
            True, at, at_name, when, [], None)
        self.occurrence = occurrence

    def _here(self, name: str, number: int) -> bool:
        if self.at_name:
            return name == self.at_name and self.mutating[:number].count(name) == self.occurrence
        return number == self.at

    def before(self, model: Any, **_: Any) -> None:
        if not self.armed or model.name.startswith(READ_PREFIXES):
            return
        self.mutating.append(model.name)
        number = len(self.mutating) - 1
        self.last[threading.get_ident()] = (model.name, number)
        if self.when == "before" and self._here(model.name, number):
            self.crash(model.name)

    def after(self, model: Any, **_: Any) -> None:
        name, number = self.last.get(threading.get_ident(), ("", -1))
        if self.armed and self.when == "after" and name == model.name and self._here(name, number):
            self.crash(model.name)

    def crash(self, name: str) -> None:
        self.armed = False
        self.crashed_at = name
        raise Crash(f"killed at {name}")
