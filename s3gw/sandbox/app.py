"""The sandbox's WSGI app: moto's app, with S3, Lambda and EC2 requests looked at on the way.

A handler returns None to let moto answer as it would, or a (status, headers, body) answer.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import re
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote

from s3gw.botocore_data import partition_of
from s3gw.policy.evaluator import Decision, Request, decide, evaluate
from s3gw.reach import (
    dynamodb_reach,
    fetch_dynamodb_prefix_list,
    fetch_snapshot,
    s3_exits,
    s3_paths_v6,
    s3_reach,
    s3_reach_v6,
    subnet_ipv6,
)

from . import authorize, dynamodb_access, s3_access, s3_buckets
from . import moto_glue as glue
from .behaviours import IAM_MESSAGES, Behaviours
from .invoke import FunctionSpec, Outcome, Runner, log_result_header, new_request_id
from .lifecycle import Functions
from .network import BlackHole, Caller, access_key_of, host_caller

log = logging.getLogger("s3gw.sandbox")

Answer = tuple[int, list[tuple[str, str]], bytes]
StartResponse = Callable[..., Any]

ADMINISTRATOR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/")
_FUNCTIONS = re.compile(r"^/[^/]+/functions/?$")
_FUNCTION = re.compile(r"^/[^/]+/functions/(?P<name>[^/]+)(?P<rest>/[a-z-]+)?/?$")
_HOST_KEY = "s3gw-sandbox"  # the sandbox's own calls to itself (describe calls for the path model)


class SandboxApp:
    def __init__(
        self,
        url: Callable[[], str],
        behaviours: Callable[[], Behaviours],
        runner: Runner,
        black_hole: BlackHole,
        url6: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.moto = glue.moto_app()
        self.url = url
        self.url6 = url6  # the sandbox on ::1, for S3 calls that take IPv6 (network_position)
        self.behaviours = behaviours
        self.runner = runner
        self.black_hole = black_hole
        self.callers = runner.callers  # the credentials of the runner's execution environments
        self.functions = Functions(behaviours)
        self._clients: dict[str, Any] = {}
        self.lingering_policies: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._clients_lock = threading.Lock()
        self._s3_writes = threading.Lock()
        self.pending_endpoints: dict[tuple[str, str, str], float] = {}  # Behaviours.endpoint_pending: until when
        self._conflicts_for: Behaviours | None = None  # the Behaviours whose s3_conflicts is being counted down
        self._conflicts_left = 0
        self._conflicts_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        service = glue.service_of(self.moto, environ)
        answer: Answer | None = None
        latency = self.behaviours().latency
        if latency and access_key_of(environ.get("HTTP_AUTHORIZATION", "")) != _HOST_KEY:
            time.sleep(latency)  # a round trip's worth (Behaviours.latency); the sandbox's own reads are local
        try:
            answer = _region_refused(environ, service)
            answer = answer or self.authorize(environ, service)
            if answer is not None:
                pass
            elif service == "s3":
                answer = self.conditional_conflict(environ) or self.s3(environ)
                if answer is None:
                    if environ.get("REQUEST_METHOD") in ("PUT", "POST", "DELETE"):
                        # The whole request first: a client stopped mid-body (SIGSTOP, with s3gw's steps running
                        # at once) must not hold the write lock; S3 serves other clients meanwhile.
                        _read_body(environ)
                    with glue.judged_by_sandbox(), self._s3_writes_one_at_a_time(environ):
                        return self.moto(environ, start_response)  # the Flask view runs inside this call
            elif service == "dynamodb":
                answer = self.dynamodb(environ)
            elif service == "awslambda":  # moto's name for the Lambda backend
                answer = self.lambda_(environ)
            elif service == "ec2":
                answer = self.ec2(environ)
        except Exception:  # a bug of the sandbox: answer 500 as AWS would, and say why in the log
            log.exception("sandbox failed on %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            answer = _json_error(500, "ServiceException", "the sandbox failed on this request; see its log")
        if answer is None:
            return self.moto(environ, start_response)
        return _respond(answer, start_response)

    # --- IAM enforcement for IAM users' keys (authorize.py) --------------------------------------

    def iam_user(self, environ: dict[str, Any]) -> tuple[str, list[dict[str, Any]], authorize.Where] | None:
        """The calling IAM user, its policies and where it calls, when IAM enforcement is on; else None."""
        if not self.behaviours().enforce_iam:
            return None
        access_key = access_key_of(environ.get("HTTP_AUTHORIZATION", ""), _query(environ).get("X-Amz-Credential", ""))
        user = glue.iam_user_of(access_key) if access_key else None
        if user is None:
            return None
        return user[0], user[1], authorize.where(glue.account_of(access_key), _region_of(environ))

    def authorize(self, environ: dict[str, Any], service: str) -> Answer | None:
        caller = self.iam_user(environ)
        if caller is None or service not in ("ec2", "iam", "sts", "awslambda", "s3"):
            return None
        user_arn, policies, at = caller
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        query = _query(environ)
        if service == "awslambda":
            needs = authorize.lambda_needs(method, path, _json_body(environ), at)
        elif service == "s3":
            body = _read_body(environ) if method in ("PUT", "POST") and "/" not in path.strip("/") else b""
            needs = authorize.s3_needs(method, path, environ.get("HTTP_HOST", ""), query, body, at,
                                          _headers(environ))
        else:
            params = {**query, **(_form(_read_body(environ)) if method == "POST" else {})}
            needs = {"ec2": authorize.ec2_needs, "iam": authorize.iam_needs, "sts": authorize.sts_needs}[service](
                params, at)
        denied = authorize.first_denied(user_arn, policies, needs, at.account)
        if denied is None:
            return None
        log.info("IAM denied %s on %s to %s", denied.action, denied.resource, user_arn)
        if service == "s3" and method == "POST" and "delete" in query:  # DeleteObjects: an error per key
            return s3_access.delete_objects_denied(_read_body(environ))
        message = authorize.denial_message(user_arn, denied)
        if service == "s3":  # S3's own shape of the same message: the resource in quotes (s3_access.denied_message)
            message = s3_access.denied_message(user_arn, denied.action, denied.resource, "identity-based policy", False)
        return authorize.refusal(service, message, head=method == "HEAD")

    def _s3_writes_one_at_a_time(self, environ: dict[str, Any]) -> Any:
        """S3 decides a conditional write (If-None-Match: *, If-Match) atomically: of two racing creates of one
        key, one wins and the other gets 412 or 409 ConditionalRequestConflict (PutObject API reference; user
        guide, "How to prevent object overwrites with conditional writes"). moto checks, then writes, in two
        steps, and its server runs requests in threads: 1 of 100 six-way races had two winners here. So the
        sandbox lets one S3 write at a time through (s3gw's lock on S3 relies on exactly this)."""
        if environ.get("REQUEST_METHOD") in ("PUT", "POST", "DELETE"):
            return self._s3_writes
        return contextlib.nullcontext()

    def conditional_conflict(self, environ: dict[str, Any]) -> Answer | None:
        """Behaviours.s3_conflicts: 409 ConditionalRequestConflict to the next N conditional object writes/deletes."""
        behaviours = self.behaviours()
        conditional = environ.get("HTTP_IF_MATCH") or environ.get("HTTP_IF_NONE_MATCH")
        if not conditional or environ.get("REQUEST_METHOD") not in ("PUT", "DELETE"):
            return None
        with self._conflicts_lock:
            if behaviours is not self._conflicts_for:
                self._conflicts_for, self._conflicts_left = behaviours, behaviours.s3_conflicts
            if self._conflicts_left <= 0:
                return None
            self._conflicts_left -= 1
        _read_body(environ)
        return s3_access.s3_error(409, "ConditionalRequestConflict",
                                  "a conflicting operation on this object is in progress; retry the request")

    # --- S3: bucket policies --------------------------------------------------------------------

    def s3(self, environ: dict[str, Any]) -> Answer | None:
        method = environ.get("REQUEST_METHOD", "GET")
        query = _query(environ)
        partition = partition_of(_region_of(environ))
        call = s3_access.classify(method, environ.get("PATH_INFO", ""), environ.get("HTTP_HOST", ""), query, partition,
                                  _headers(environ))
        if call is not None and not call.action:  # fail closed: what the sandbox cannot map, it does not let through
            log.info("S3 refused %s: the sandbox maps it to no IAM action", call.operation)
            return s3_access.access_denied(head=method == "HEAD", message=s3_access.unmapped_message(call))
        caller = self.caller_of(environ, query, partition)
        refused = self.s3_bucket_answer(environ, method, query, caller.account, partition)
        if refused is not None:
            return refused
        copied = environ.get("HTTP_X_AMZ_COPY_SOURCE", "") if method == "PUT" else ""
        source = s3_access.copy_source(copied, partition)
        if call is not None and call.action == "s3:DeleteBucketPolicy":
            self.remember_deleted_policy(caller.account, call.bucket, partition)
        for judged in (call, source):
            if judged is None or not glue.bucket_exists(caller.account, judged.bucket, partition):
                continue  # no bucket, no policy: moto answers (NoSuchBucket, ListBuckets, CreateBucket)
            decision = self.judge(caller, judged)
            if decision.effect == "Allow":
                continue
            log.info("S3 denied %s on %s to %s: %s", judged.action, judged.resource, caller.principal, decision.reason)
            if judged.key == "*":
                return s3_access.delete_objects_denied(_read_body(environ))
            return s3_access.access_denied(head=method == "HEAD", message=_denied_message(caller, judged, decision))
        return None

    def s3_bucket_answer(self, environ: dict[str, Any], method: str, query: dict[str, str], account: str,
                         partition: str) -> Answer | None:
        """What S3 answers about buckets where moto answers otherwise (sandbox/s3_buckets.py)."""
        bucket, key = s3_access.bucket_and_key(environ.get("PATH_INFO", ""), environ.get("HTTP_HOST", ""))
        if not bucket:
            return None
        if method == "PUT" and key is None and not query and self.behaviours().no_create_bucket_tags:  # CreateBucket
            refused = s3_buckets.create_bucket_tags_refused(_read_body(environ))
            if refused is not None:
                return refused
        return s3_buckets.illegal_location(glue.bucket_region(account, bucket, partition), _region_of(environ),
                                           partition)

    def caller_of(self, environ: dict[str, Any], query: dict[str, str], partition: str = "aws") -> Caller:
        """An invocation's credentials; else a host caller: an STS AssumeRole session, or the operator."""
        access_key = access_key_of(environ.get("HTTP_AUTHORIZATION", ""), query.get("X-Amz-Credential", ""))
        invocation = self.callers.get(access_key)
        if invocation is not None:
            return invocation
        session = glue.assumed_role_of(access_key)
        if session is not None:  # the role's policies are the identity policies; aws:PrincipalArn is the role
            session_arn, role_arn, account = session
            return Caller(session_arn, account, role_arn)
        return host_caller(glue.account_of(access_key), partition)

    def remember_deleted_policy(self, account: str, bucket: str, partition: str) -> None:
        """S3 bucket configuration is eventually consistent (S3 User Guide, "Amazon S3 data consistency model"):
        with `policy_linger`, a deleted bucket policy still applies for that many seconds."""
        linger = self.behaviours().policy_linger
        policy = glue.bucket_policy(account, bucket, partition) if linger > 0 else None
        if policy:
            self.lingering_policies[(account, partition, bucket)] = (policy, time.time() + linger)

    def bucket_policy(self, account: str, bucket: str, partition: str) -> str | None:
        current = glue.bucket_policy(account, bucket, partition)
        lingering = self.lingering_policies.get((account, partition, bucket))
        if lingering and time.time() < lingering[1]:
            return current or lingering[0]
        return current

    # --- DynamoDB: tables' resource-based policies (issue 22) ---------------------------------------

    def dynamodb(self, environ: dict[str, Any]) -> Answer | None:
        """Judge a DynamoDB request as DynamoDB would: the caller's identity policies, the table's resource-based
        policy and, through a DynamoDB gateway endpoint, its endpoint policy, with aws:SourceVpce set only when the
        request came through that endpoint (network.Caller.dynamodb_vpce). moto 5.2 stores resource policies
        (PutResourcePolicy) but enforces none of them."""
        region = _region_of(environ)
        partition = partition_of(region)
        query = _query(environ)
        caller = self.caller_of(environ, query, partition)
        calls = dynamodb_access.classify(environ.get("HTTP_X_AMZ_TARGET", ""), _read_body(environ), region,
                                         caller.account, partition)
        if calls is None:
            return None
        if not calls:
            return dynamodb_access.access_denied("the sandbox cannot tell which table this request is on")
        through = replace(caller, source_vpce=caller.dynamodb_vpce)
        for call in calls:
            exists, policy = glue.table_policy(caller.account, region, call.table)
            if not exists:
                continue  # no table, no policy: moto answers (ResourceNotFoundException, CreateTable)
            decision = self.judge(through, call, policy)
            if decision.effect == "Allow":
                continue
            log.info("DynamoDB denied %s on %s to %s: %s", call.action, call.resource, caller.principal,
                     decision.reason)
            kind = _policy_kind(decision)
            text = (dynamodb_access.message(caller.principal, call, kind, decision.effect == "Deny") if kind
                    else "Access Denied")
            return dynamodb_access.access_denied(text)
        return None

    def judge(self, caller: Caller, call: Any, resource_policy: str | None = None) -> Decision:
        """`call` is an S3 call (its bucket's policy is read) or a DynamoDB one (its table's policy is given)."""
        if isinstance(call, s3_access.S3Call):
            resource_policy = self.bucket_policy(caller.account, call.bucket, call.partition)
        identity = [ADMINISTRATOR] if caller.role_arn is None else glue.role_policies(caller.account, caller.role_arn)
        request = Request(
            action=call.action,
            resource=call.resource,
            principal=caller.principal,
            account=caller.account,
            context=caller.context(),
        )
        try:
            decision = decide(
                request,
                identity_policies=identity,
                resource_policy=resource_policy,
                resource_account=caller.account,
            )
            # Through the endpoint, its policy must allow the call too: "An endpoint policy does not
            # override or replace identity-based policies or resource-based policies" (PrivateLink guide,
            # "Control access to VPC endpoints using endpoint policies"); no document means full access.
            document = glue.endpoint_policy(caller.account, caller.source_vpce) if caller.source_vpce else None
            if decision.effect == "Deny" or not document:
                return decision
            # The bucket's owner: the sandbox files every bucket under the caller's account.
            context = {**request.context, "aws:ResourceAccount": caller.account}
            gate = evaluate(document, Request(call.action, call.resource, caller.principal, caller.account, context))
            # When several policies refuse, AWS names one of them (IAM User Guide, "Troubleshooting access denied
            # error messages"); the sandbox names an explicit deny first, then the identity and bucket policies.
            if gate.effect == "Allow" or (decision.effect != "Allow" and gate.effect != "Deny"):
                return decision
            return Decision(gate.effect, gate.statement, f"endpoint policy of {caller.source_vpce}: {gate.reason}")
        except ValueError as problem:  # a policy the evaluator cannot read: fail closed
            return Decision("Deny", None, f"unreadable policy: {problem}")

    # --- Lambda ---------------------------------------------------------------------------------

    def lambda_(self, environ: dict[str, Any]) -> Answer | None:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        region = _region_of(environ)
        account = glue.account_of(access_key_of(environ.get("HTTP_AUTHORIZATION", "")))
        if _FUNCTIONS.match(path):
            return self.create_function(environ, account, region) if method == "POST" else None
        match = _FUNCTION.match(path)
        if match is None:
            return None
        name, rest = unquote(match["name"]), match["rest"] or ""
        if (method, rest) == ("POST", "/invocations"):
            return self.invoke(environ, account, region, name)
        if method == "GET" and rest in ("", "/configuration"):
            return self.get_function(environ, account, region, name, nested=rest == "")
        if method == "PUT" and rest in ("/configuration", "/code"):
            return self.update_function(environ, account, region, name, rest)
        if (method, rest) == ("DELETE", ""):
            return self.delete_function(environ, account, region, name)
        return None

    def create_function(self, environ: dict[str, Any], account: str, region: str) -> Answer | None:
        request = _json_body(environ)
        refused = self.role_refused(account, request.get("Role", "")) or self.vpc_refused(account, region, request)
        if refused:
            return refused
        status, headers, body = self.forward(environ)
        if status != 201:
            return status, headers, body
        config = json.loads(body)
        vpc = request.get("VpcConfig") or {}
        self.functions.created(
            account, region, config["FunctionName"], vpc.get("SubnetIds") or [], vpc.get("SecurityGroupIds") or []
        )
        return status, headers, _json(self.patch_configuration(config, account, region))

    def role_refused(self, account: str, role_arn: str) -> Answer | None:
        """IAM propagation: Lambda cannot assume a role younger than `iam_propagation` seconds."""
        delay = self.behaviours().iam_propagation
        created = glue.role_created_at(account, role_arn) if delay > 0 else None
        if created is not None and time.time() - created < delay:
            return _json_error(400, "InvalidParameterValueException", IAM_MESSAGES[self.behaviours().iam_message])
        return None

    def vpc_refused(self, account: str, region: str, request: dict[str, Any]) -> Answer | None:
        """Lambda checks the VpcConfig's subnets and groups exist; moto takes any id."""
        vpc = request.get("VpcConfig") or {}
        unsupported = self.behaviours().no_lambda_zones
        if unsupported and any(glue.subnet_zone(account, region, s) in unsupported for s in vpc.get("SubnetIds") or []):
            # Lambda does not run in every zone of a region; its answer, as Lambda sends it.
            return _json_error(400, "InvalidParameterValueException",
                               "The provided subnets contain availability zone Lambda doesn't support.")
        for subnet_id in vpc.get("SubnetIds") or []:
            if not glue.subnet_exists(account, region, subnet_id):
                return _json_error(400, "InvalidParameterValueException",
                                   "Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.NotFound. "
                                   f"EC2 Error Message: The subnet ID '{subnet_id}' does not exist")
        for group_id in vpc.get("SecurityGroupIds") or []:
            if not glue.security_group_exists(account, region, group_id):
                return _json_error(400, "InvalidParameterValueException",
                                   "Error occurred while DescribeSecurityGroups. EC2 Error Code: "
                                   "InvalidGroup.NotFound. "
                                   f"EC2 Error Message: The security group '{group_id}' does not exist")
        return None

    def get_function(self, environ: dict[str, Any], account: str, region: str, name: str, nested: bool) -> Answer:
        status, headers, body = self.forward(environ)
        if status != 200:
            return status, headers, body
        answer = json.loads(body)
        caller = self.iam_user(environ)
        if nested and caller is not None:
            # "Lambda returns tag data only if you have explicit allow permissions for lambda:ListTags"
            # (botocore's GetFunction model, the Tags member).
            arn = answer.get("Configuration", {}).get("FunctionArn") or authorize.function_arn(name, caller[2])
            if not authorize.allowed(caller[0], caller[1], authorize.Need("lambda:ListTags", arn), caller[2].account):
                answer.pop("Tags", None)
        if nested:
            answer["Configuration"] = self.patch_configuration(answer.get("Configuration", {}), account, region)
        else:
            answer = self.patch_configuration(answer, account, region)
        return status, headers, _json(answer)

    def update_function(
        self, environ: dict[str, Any], account: str, region: str, name: str, rest: str
    ) -> Answer | None:
        function = glue.lambda_function(account, region, name)
        if function is None:
            return None  # moto's 404
        name = function.name
        if self.functions.is_pending(account, region, name) or self.functions.is_updating(account, region, name):
            return _json_error(409, "ResourceConflictException",
                               "The operation cannot be performed at this time. "
                               f"An update is in progress for resource: {function.arn}")
        request = _json_body(environ)
        vpc = request.get("VpcConfig") if rest == "/configuration" else None
        # Lambda keeps Ipv6AllowedForDualStack when an update's VpcConfig leaves it out, and refuses it true without
        # subnets or groups: "Ipv6AllowedForDualStack cannot be true without subnet or security groups. Please remove
        # Ipv6AllowedForDualStack value from your request and try again." (aws-cloudformation/cloudformation-
        # coverage-roadmap#2061, a dual-stack function taken out of its VPC). moto replaces the whole VpcConfig.
        ipv6 = None if vpc is None else bool(vpc.get("Ipv6AllowedForDualStack", function.ipv6_allowed))
        if ipv6 and not (vpc.get("SubnetIds") and vpc.get("SecurityGroupIds")):  # type: ignore[union-attr]
            return _json_error(400, "InvalidParameterValueException",
                               "Ipv6AllowedForDualStack cannot be true without subnet or security groups. Please "
                               "remove Ipv6AllowedForDualStack value from your request and try again.")
        if rest == "/configuration":
            refused = self.vpc_refused(account, region, request)
            if "Role" in request:
                refused = self.role_refused(account, request["Role"]) or refused
            if refused:
                return refused
        status, headers, body = self.forward(environ)
        if status != 200:
            return status, headers, body
        answer = json.loads(body)
        if ipv6 and "Ipv6AllowedForDualStack" not in vpc:  # type: ignore[operator]
            glue.keep_lambda_ipv6(account, region, name)
            answer.setdefault("VpcConfig", {})["Ipv6AllowedForDualStack"] = True
        vpc = request.get("VpcConfig")
        new_vpc = None if vpc is None else (vpc.get("SubnetIds") or [], vpc.get("SecurityGroupIds") or [])
        self.functions.updated(account, region, name, new_vpc)
        return status, headers, _json(self.patch_configuration(answer, account, region))

    def delete_function(self, environ: dict[str, Any], account: str, region: str, name: str) -> Answer:
        function = glue.lambda_function(account, region, name)
        status, headers, body = self.forward(environ)
        if status == 204 and function is not None and "Qualifier" not in _query(environ):
            self.functions.deleted(account, region, function.name)
        return status, headers, body

    def patch_configuration(self, config: dict[str, Any], account: str, region: str) -> dict[str, Any]:
        """moto reports every function Active, and VpcId "vpc-123abc": give the real state and VPC."""
        name = config.get("FunctionName", "")
        config.update(self.functions.state_fields(account, region, name))
        vpc = config.get("VpcConfig") or {}
        if vpc.get("SubnetIds"):
            vpc_id = glue.subnet_vpc(account, region, vpc["SubnetIds"][0])
            if vpc_id:
                vpc["VpcId"] = vpc_id
        return config

    # --- Lambda Invoke ----------------------------------------------------------------------------

    def invoke(self, environ: dict[str, Any], account: str, region: str, name: str) -> Answer:
        qualifier = _query(environ).get("Qualifier")
        function = glue.lambda_function(account, region, name, qualifier)
        if function is None:
            arn = name if name.startswith("arn:") else \
                f"arn:{partition_of(region)}:lambda:{region}:{account}:function:{name}"
            return _json_error(404, "ResourceNotFoundException",
                               f"Function not found: {arn}" + (f":{qualifier}" if qualifier else ""))
        for state, now in (("Pending", self.functions.is_pending), ("Failed", self.functions.is_failed)):
            if now(account, region, function.name):
                return _json_error(409, "ResourceConflictException",
                                   "The operation cannot be performed at this time. "
                                   f"The function is currently in the following state: {state}")
        if not function.runtime.startswith("python"):
            # The sandbox runs handlers in this machine's Python (runner.py); Lambda would run this runtime. Lambda's
            # own code for a runtime it cannot run is InvalidRuntimeException (botocore's Lambda model, Invoke
            # errors; HTTP 502 there): 400 here, since no retry can change the answer.
            return _json_error(400, "InvalidRuntimeException",
                               f"the sandbox runs Python handlers only: {function.name} has runtime "
                               f"{function.runtime or 'none'} (on AWS it runs as deployed)")
        event = _read_body(environ) or b"{}"
        try:
            json.loads(event)
        except ValueError as problem:
            message = f"Could not parse request body into json: {problem}"
            return _json_error(400, "InvalidRequestContentException", message)
        invocation_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        if invocation_type == "DryRun":
            return 204, [("X-Amz-Executed-Version", function.version)], b""
        request_id = new_request_id()
        if invocation_type == "Event":  # queued: run in the background, answer at once
            args = (function, event, request_id)
            threading.Thread(target=self.run, args=args, daemon=True, name=f"invoke-{request_id}").start()
            return 202, [("x-amzn-RequestId", request_id)], b""
        outcome = self.run(function, event, request_id)
        headers = [
            ("Content-Type", "application/json"),
            ("X-Amz-Executed-Version", function.version),
            ("x-amzn-RequestId", request_id),
        ]
        if outcome.function_error:
            headers.append(("X-Amz-Function-Error", outcome.function_error))
        if environ.get("HTTP_X_AMZ_LOG_TYPE") == "Tail":
            headers.append(("X-Amz-Log-Result", log_result_header(outcome.log)))
        return 200, headers, outcome.payload

    def run(self, function: FunctionSpec, event: bytes, request_id: str) -> Outcome:
        caller, s3_url, other_url = self.network_position(function)
        caller, dynamodb_url = self.dynamodb_position(function, caller, other_url)

        def environment(access_key: str, secret: str) -> dict[str, str]:
            return {**self.function_environment(function, access_key, secret, s3_url, other_url),
                    "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_url}

        outcome = self.runner.run(function, event, request_id, caller, environment)
        glue.save_function_logs(function, outcome.log)
        return outcome

    def network_position(self, function: FunctionSpec) -> tuple[Caller, str, str]:
        """Who the function is to S3, and its S3 and other endpoint URLs (see network.py).

        Judged when the invocation starts, from the current EC2 state, by the path model `verify` uses.
        """
        account, region, role_arn = function.account, function.region, function.role_arn
        partition = role_arn.split(":")[1] if role_arn.count(":") >= 5 else "aws"
        session = f"arn:{partition}:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{function.name}"
        subnet_ids, group_ids = function.subnet_ids, function.security_group_ids
        if not subnet_ids:  # not in a VPC: Lambda's own internet access, no SourceVpce
            return Caller(session, account, role_arn), self.url(), self.url()
        snapshot = fetch_snapshot(self.ec2_client(region), subnet_ids, group_ids)
        if _takes_ipv6(function, snapshot["subnets"]):
            return self.ipv6_position(function, Caller(session, account, role_arn), snapshot)
        reach = s3_reach(region, subnet_ids, group_ids, **snapshot)
        if not reach.ok:
            reason = reach.reason
            exits = s3_exits(subnet_ids, region=region, **snapshot)
            nat = {s: gateway for s, (_, gateway) in exits.items() if gateway.startswith("nat-")}
            egress_ok = reach.links[0].ok  # the security groups' link comes first (reach.s3_reach)
            broken = [link for link in reach.links if not link.ok and link.name.split(":")[0] not in nat]
            if nat and egress_ok and not broken:
                # Through a NAT gateway: S3's public endpoint answers, but the request carries no aws:SourceVpce
                # (reach.py cites the docs), so the seal refuses it with AccessDenied. Lambda may put an ENI in any
                # of the function's subnets; the sandbox takes the one that goes through the NAT, every time.
                log.info("%s reaches S3 through NAT %s (subnets %s)", function.name, ", ".join(sorted(set(
                    nat.values()))), ", ".join(sorted(nat)))
                return Caller(session, account, role_arn), self.url(), self.url()
            log.info("%s cannot reach S3: %s", function.name, reason.detail if reason else "unknown")
            return Caller(session, account, role_arn), self.black_hole.url, self.black_hole.url
        vpc_id = snapshot["subnets"][0]["VpcId"] if snapshot["subnets"] else None
        caller = Caller(session, account, role_arn, source_vpce=reach.endpoint_id, source_vpc=vpc_id)
        return caller, self.url(), self.black_hole.url

    def ipv6_position(self, function: FunctionSpec, caller: Caller,
                      snapshot: dict[str, Any]) -> tuple[Caller, str, str]:
        """A dual-stack client's S3 calls, over IPv6: through a dualstack gateway endpoint whose IPv6 prefix-list
        route every subnet's table has (aws:SourceVpce); out through an egress-only (or an internet) gateway, which
        reaches S3's public dual-stack endpoint without aws:SourceVpce, so a seal refuses it; else dropped (a timeout).
        An egress-only internet gateway "allows outbound communication over IPv6 from instances in your VPC to the
        internet" (VPC User Guide, "Enable outbound IPv6 traffic using an egress-only internet gateway"); an IPv6
        address is globally unique, so an internet gateway carries it too (no public IPv4 needed). s3gw.reach cites
        the rest."""
        region, subnet_ids, group_ids = function.region, function.subnet_ids, function.security_group_ids
        url6 = self.url6() or self.url()
        reach = s3_reach_v6(region, subnet_ids, group_ids, **snapshot)
        if reach.ok:
            vpc_id = snapshot["subnets"][0]["VpcId"] if snapshot["subnets"] else None
            log.info("%s reaches S3 over IPv6 through %s", function.name, reach.endpoint_id)
            return replace(caller, source_vpce=reach.endpoint_id, source_vpc=vpc_id), url6, self.black_hole.url
        paths = s3_paths_v6(subnet_ids, region=region, **snapshot)
        out = sorted({p.exit for p in paths if p.exit and p.exit.startswith(("eigw-", "igw-"))})
        egress_ok = reach.links[0].ok  # the security groups' IPv6 link comes first (reach.s3_reach_v6)
        if out and egress_ok:
            log.info("%s reaches S3 over IPv6 through %s, without aws:SourceVpce", function.name, ", ".join(out))
            return caller, url6, self.black_hole.url
        why = reach.reason
        log.info("%s cannot reach S3 over IPv6: %s", function.name, why.detail if why else "unknown")
        return caller, self.black_hole.url, self.black_hole.url

    def dynamodb_position(self, function: FunctionSpec, caller: Caller, other_url: str) -> tuple[Caller, str]:
        """Where the function's DynamoDB calls go (issue 22), judged as its S3 calls are (network_position), by the
        path model `verify` uses (reach.dynamodb_reach): through the DynamoDB gateway endpoint (the sandbox, with
        aws:SourceVpce = that endpoint), through a NAT gateway (the sandbox, without aws:SourceVpce, so a table's seal
        refuses it), or nowhere (the black hole: the connection times out, as when a route or group drops it)."""
        if not function.subnet_ids:
            return caller, other_url  # not in a VPC: Lambda's own internet access
        client = self.ec2_client(function.region)
        snapshot = fetch_snapshot(client, function.subnet_ids, function.security_group_ids)
        reach = dynamodb_reach(function.region, function.subnet_ids, function.security_group_ids, **snapshot,
                               prefix_list=fetch_dynamodb_prefix_list(client))
        if reach.ok:
            return replace(caller, dynamodb_vpce=reach.endpoint_id), self.url()
        broken = [link for link in reach.links if not link.ok]
        if reach.links[0].ok and broken and all("(nat: nat-" in link.detail for link in broken):
            log.info("%s reaches DynamoDB through a NAT gateway (no aws:SourceVpce)", function.name)
            return caller, self.url()
        log.info("%s cannot reach DynamoDB: %s", function.name, broken[0].detail if broken else "unknown")
        return caller, self.black_hole.url

    def function_environment(
        self, function: FunctionSpec, access_key: str, secret: str, s3_url: str, other_url: str
    ) -> dict[str, str]:
        """Lambda's environment, not the host's: only PATH and PYTHONPATH (to find boto3) come along."""
        region = function.region
        inherited = {k: os.environ[k] for k in ("PATH", "PYTHONPATH") if k in os.environ}
        return {
            **inherited,
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",  # the log keeps the handler's print/stderr order
            "PYTHONDONTWRITEBYTECODE": "1",
            **function.environment,
            # Lambda's reserved variables, then the sandbox's network and credentials: these win over the
            # function's own variables (Lambda refuses reserved ones; AWS_ENDPOINT_URL* must stay ours).
            "_HANDLER": function.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": function.version,
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[{function.version}]{uuid.uuid4().hex}",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_SESSION_TOKEN": secret,
            "AWS_ENDPOINT_URL": other_url,
            "AWS_ENDPOINT_URL_S3": s3_url,
            "AWS_CONFIG_FILE": os.devnull,  # no profile of the host's leaks in
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def ec2_client(self, region: str) -> Any:
        """A client of the sandbox itself, for the same describe calls `verify` makes against AWS."""
        with self._clients_lock:
            if region not in self._clients:
                import boto3
                from botocore.config import Config

                from s3gw.botocore_data import botocore_session

                self._clients[region] = boto3.session.Session(botocore_session=botocore_session()).client(
                    "ec2", region_name=region, endpoint_url=self.url(),
                    aws_access_key_id=_HOST_KEY, aws_secret_access_key=_HOST_KEY,
                    config=Config(retries={"total_max_attempts": 1}),
                )
            return self._clients[region]

    # --- EC2: Lambda's ENIs, groups and endpoints as dependencies --------------------------------------

    def ec2(self, environ: dict[str, Any]) -> Answer | None:
        self.functions.settle_enis()
        params = _query(environ)
        if environ.get("REQUEST_METHOD") == "POST":
            params.update(_form(_read_body(environ)))
        action = params.get("Action", "")
        region = _region_of(environ)
        account = glue.account_of(access_key_of(environ.get("HTTP_AUTHORIZATION", "")))
        self.settle_endpoints()
        if action == "CreateVpcEndpoint" and self.behaviours().endpoint_pending:
            return self.create_endpoint_pending(environ, account, region)
        zone = params.get("AvailabilityZone", "")
        if action == "CreateSubnet" and zone in self.behaviours().no_subnet_zones:
            # An account may not create subnets in some zones; EC2's answer, as users report it (moto's own
            # test_subnets.py asserts the same text; widdix/aws-cf-templates#36).
            others = [z for z in glue.zone_names(account, region) if z not in self.behaviours().no_subnet_zones]
            return _ec2_error("InvalidParameterValue", f"Value ({zone}) for parameter availabilityZone is invalid. "
                              "Subnets can currently only be created in the following availability zones: "
                              f"{', '.join(others)}.")
        if action == "DeleteSecurityGroup" and params.get("GroupId"):
            group_id = params["GroupId"]
            if glue.enis_using(account, region, group_id=group_id):
                return _ec2_error("DependencyViolation", f"resource {group_id} has a dependent object")
        if action == "DeleteSubnet" and params.get("SubnetId"):
            subnet_id = params["SubnetId"]
            if glue.enis_using(account, region, subnet_id=subnet_id):
                message = f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
                return _ec2_error("DependencyViolation", message)
        if action == "DeleteVpc" and params.get("VpcId"):
            vpc_id = params["VpcId"]
            if glue.vpc_dependencies(account, region, vpc_id):
                return _ec2_error("DependencyViolation", f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
        if action == "DeleteNetworkInterface" and params.get("NetworkInterfaceId"):
            eni_id = params["NetworkInterfaceId"]
            if glue.eni_status(account, region, eni_id) == "in-use":
                return _ec2_error("InvalidParameterValue", f"Network interface '{eni_id}' is currently in use.")
        return None

    def create_endpoint_pending(self, environ: dict[str, Any], account: str, region: str) -> Answer:
        """moto's CreateVpcEndpoint, the new endpoint `pending` for Behaviours.endpoint_pending seconds."""
        status, headers, body = self.forward(environ)
        found = re.search(rb"<vpcEndpointId>(vpce-[0-9a-f]+)</vpcEndpointId>", body)
        if status == 200 and found:
            endpoint_id = found.group(1).decode()
            glue.set_endpoint_state(account, region, endpoint_id, "pending")
            self.pending_endpoints[(account, region, endpoint_id)] = time.time() + self.behaviours().endpoint_pending
            body = body.replace(b"<state>available</state>", b"<state>pending</state>", 1)
        return status, headers, body

    def settle_endpoints(self) -> None:
        for key, until in list(self.pending_endpoints.items()):
            if time.time() >= until:
                glue.set_endpoint_state(*key, "available")
                self.pending_endpoints.pop(key, None)

    # --- plumbing ---------------------------------------------------------------------------------

    def forward(self, environ: dict[str, Any]) -> Answer:
        """moto's answer, buffered so that it can be looked at or changed."""
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        chunks = self.moto(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()
        return int(captured["status"].split()[0]), list(captured["headers"]), body


def _takes_ipv6(function: FunctionSpec, subnets: list[dict[str, Any]]) -> bool:
    """Whether the function's S3 calls go over IPv6: its client takes S3's dual-stack endpoint
    (AWS_USE_DUALSTACK_ENDPOINT, read by every AWS SDK: SDKs and Tools Reference Guide, "Dual-stack and FIPS
    endpoints"), whose name resolves to IPv6 and IPv4 (S3 User Guide, "Using Amazon S3 dual-stack endpoints"); the
    function has IPv6 (Ipv6AllowedForDualStack, on subnets that are all dual-stack); and a dual-stack host prefers
    IPv6 ("When configured as dual-stack, most modern operating systems default to preferring IPv6": IPv6 on AWS
    whitepaper, "Designing DNS for IPv6"). Otherwise the calls take IPv4 (S3's regional name has no IPv6 address)."""
    dual_stack_client = function.environment.get("AWS_USE_DUALSTACK_ENDPOINT", "").lower() == "true"
    return function.ipv6_allowed and dual_stack_client and bool(subnets) and all(subnet_ipv6(s) for s in subnets)


def _respond(answer: Answer, start_response: StartResponse) -> list[bytes]:
    status, headers, body = answer
    kept = [(k, v) for k, v in headers if k.lower() not in ("content-length", "x-amz-crc32")]
    kept.append(("Content-Length", str(len(body))))
    if any(k.lower() == "x-amz-crc32" for k, _ in headers):  # moto signs Lambda JSON bodies
        kept.append(("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)))
    start_response(f"{status} {HTTPStatus(status).phrase}", kept)
    return [body]


def _json_error(status: int, code: str, message: str) -> Answer:
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code), ("x-amzn-RequestId", new_request_id())]
    return status, headers, _json({"Type": "User", "message": message})


def _ec2_error(code: str, message: str) -> Answer:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        f"<RequestID>{new_request_id()}</RequestID></Response>"
    )
    return 400, [("Content-Type", "text/xml;charset=UTF-8")], body.encode()


def _json(value: Any) -> bytes:
    return json.dumps(value, default=str).encode()


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body, left in place for moto to read again."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    if length:
        body = stream.read(length)
    elif environ.get("wsgi.input_terminated"):  # chunked: the server ends the stream for us
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _json_body(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(_read_body(environ) or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _query(environ: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's headers by their lower-case names (WSGI keeps them as HTTP_X_AMZ_…)."""
    found = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if name in environ:
            found[name.replace("_", "-").lower()] = str(environ[name])
    return found


def _form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode(errors="replace"), keep_blank_values=True).items()}


@functools.lru_cache(maxsize=1)
def _regions() -> frozenset[str]:
    from s3gw.config import known_regions

    return frozenset(known_regions())


def _region_refused(environ: dict[str, Any], service: str) -> Answer | None:
    """A request signed for a region AWS does not have. At AWS's own hosts such a region's endpoint does not
    resolve; at a fixed endpoint (as the sandbox is) the service refuses the signature: 403 SignatureDoesNotMatch
    "Credential should be scoped to a valid region, not '<region>'." (aws/aws-sdk-ruby#508, aws/aws-sdk-php#493,
    JuliaCloud/AWS.jl#565 for IAM/SQS; versity/versitygw#192 models S3 alike), InvalidSignatureException in the
    REST-JSON services (aws/aws-sdk-js-v3#5576). The regions: botocore's, every partition (what moto serves;
    moto answered a 500 page with KeyError: 'us-est-1')."""
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) or \
        _CREDENTIAL_SCOPE.search("Credential=" + _query(environ).get("X-Amz-Credential", ""))
    region = match.group(1) if match else ""
    if not region or region in _regions() or region == "aws-global":
        return None
    message = f"Credential should be scoped to a valid region, not '{region}'. "
    if service in ("awslambda",):
        return _json_error(403, "InvalidSignatureException", message)
    if service == "ec2":
        answer = _ec2_error("SignatureDoesNotMatch", _xml_text(message))
        return 403, answer[1], answer[2]
    if service == "s3":
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>'
                f"<Message>{_xml_text(message)}</Message><RequestId>{new_request_id()}</RequestId></Error>")
        return 403, [("Content-Type", "application/xml")], b"" if environ.get("REQUEST_METHOD") == "HEAD" else \
            body.encode()
    body = ("<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"
            f"<Message>{_xml_text(message)}</Message></Error><RequestId>{new_request_id()}</RequestId></ErrorResponse>")
    return 403, [("Content-Type", "text/xml")], body.encode()


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _region_of(environ: dict[str, Any]) -> str:
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else "us-east-1"


def _policy_kind(decision: Decision) -> str:
    """The kind of policy a refusal names (IAM User Guide, "Troubleshooting access denied error messages"); "" for
    a policy the evaluator could not read."""
    reason = decision.reason
    if reason.startswith("endpoint policy"):
        return "VPC endpoint policy"
    if reason.startswith("resource policy"):
        return "resource-based policy"
    if reason.startswith(("identity policy", "no identity or resource policy")):
        return "identity-based policy"  # same account: with no Allow on either side, S3 names the identity side
    return ""


def _denied_message(caller: Caller, call: s3_access.S3Call, decision: Decision) -> str:
    """The AccessDenied message names the kind of policy that refused the call, as S3 does for a caller of the
    bucket's own account (the sandbox files every bucket under the caller's account); s3_access.denied_message
    cites the shape. A policy the evaluator could not read is not named."""
    policy = _policy_kind(decision)
    if not policy:
        return "Access Denied"
    return s3_access.denied_message(caller.principal, call.action, call.resource, policy, decision.effect == "Deny")
