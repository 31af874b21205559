"""Every place the sandbox relies on moto's internals (moto 5.2), each with why.

The sandbox serves moto's WSGI app in this process, so moto's in-memory backends are the
sandbox's state. Everything else in s3gw.sandbox goes through the functions here, or through
moto's public HTTP API, so a moto upgrade touches this file only.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Iterator
from typing import Any

# Before moto is imported: without it IAM has no AWS managed policies, so attaching
# AWSLambdaVPCAccessExecutionRole fails. moto reads it when it builds the IAM backend.
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"

from moto import backends  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # noqa: E402

from s3gw.policy.documents import parse_policy  # noqa: E402

from .invoke import FunctionSpec  # noqa: E402

Wsgi = Any
ACCOUNT_ID = DEFAULT_ACCOUNT_ID
_PARTITION = "aws"


def _import_ec2_on_the_shared_loader() -> None:
    """Import moto's EC2 models with their boto3 sessions on s3gw's shared botocore loader.

    moto 5.2's RegionsAndZonesBackend (ec2/models/availability_zones_and_regions.py) lists regions at import
    with three new boto3.Session()s; each builds its own loader and parses the EC2 service model and
    endpoints.json again (~0.1 s each, and ~70k objects of garbage). On the shared loader (s3gw.aws) the data
    is parsed once, and the CLI's own EC2 clients find it parsed; the regions listed are the same.
    """
    import sys

    if "moto.ec2.models" in sys.modules:
        return
    import boto3

    from s3gw.botocore_data import botocore_session

    original = boto3.Session

    def session(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("botocore_session", botocore_session())
        return original(*args, **kwargs)

    boto3.Session = session  # type: ignore[misc]  # moto's module does `from boto3 import Session`
    try:
        import moto.ec2.models  # noqa: F401
    finally:
        boto3.Session = original  # type: ignore[misc]


def _list_regions_on_the_shared_loader() -> None:
    """moto's per-service region lists on s3gw's shared botocore loader, too.

    moto 5.2 lists a service's regions (core/base_backend.py, AccountSpecificBackend._generate_regions) for every
    backend it builds, through one boto3 Session of its own (get_session), which parses each service's model
    again, EC2's (~0.1 s) included, though the CLI's clients have parsed it already. Same data, same answers.
    """
    from functools import lru_cache

    import boto3
    from moto.core.base_backend import AccountSpecificBackend

    from s3gw.botocore_data import botocore_session

    @lru_cache(maxsize=1)
    def get_session(cls: type) -> Any:
        return boto3.Session(botocore_session=botocore_session())

    AccountSpecificBackend.get_session = classmethod(get_session)  # type: ignore[method-assign,assignment]


def _list_endpoint_services_without_cloudformation() -> None:
    """moto's DescribeVpcEndpointServices answer, made without importing moto's CloudFormation backend.

    moto 5.2 (ec2/models/vpcs.py, _collect_default_endpoint_services) builds a region's list by importing the backend
    of every service in IMPLEMENTED_ENDPOINT_SERVICES. CloudFormation's (cloudformation/parsing.py) imports moto's
    API Gateway, which needs openapi-spec-validator and with it pydantic: moto[server] packages that the sandbox
    extra does not install (measured: every other backend there imports with moto[ec2,iam,awslambda-simple,sts]).
    Its one entry is made here as its backend makes it (cloudformation/models.py default_vpc_endpoint_service: the
    generic entry, policy not supported, where its BackendDict has the region) and listed first, where moto lists
    it: the answer is unchanged.
    """
    from moto.core.base_backend import AccountSpecificBackend, BaseBackend
    from moto.ec2.models import vpcs
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    if "cloudformation" not in vpcs.IMPLEMENTED_ENDPOINT_SERVICES:
        return
    vpcs.IMPLEMENTED_ENDPOINT_SERVICES = [name for name in vpcs.IMPLEMENTED_ENDPOINT_SERVICES
                                          if name != "cloudformation"]  # still in COVERED: no generic entry either
    original = vpcs.VPCBackend._collect_default_endpoint_services
    lock = threading.Lock()

    def collect(account_id: str, region: str) -> list[dict[str, str]]:
        services = original(account_id, region)  # moto's cached list for the region, completed once
        name = f"com.amazonaws.{region}.cloudformation"
        session = AccountSpecificBackend.get_session()
        with lock:
            if any(service["ServiceName"] == name for service in services) or not any(
                    region in session.get_available_regions("cloudformation", partition_name=partition)
                    for partition in session.get_available_partitions()):
                return services
            zones = [zone.name for zones in RegionsAndZonesBackend.zones.values() for zone in zones
                     if zone.name.startswith(region)]
            services[:0] = BaseBackend.default_vpc_endpoint_service_factory(region, zones, "cloudformation",
                                                                            policy_supported=False)
        return services

    vpcs.VPCBackend._collect_default_endpoint_services = staticmethod(collect)  # type: ignore[method-assign]


_import_ec2_on_the_shared_loader()
_list_regions_on_the_shared_loader()
_list_endpoint_services_without_cloudformation()


def moto_app() -> DomainDispatcherApplication:
    return DomainDispatcherApplication(create_backend_app)


def service_of(app: DomainDispatcherApplication, environ: dict[str, Any]) -> str:
    """The moto backend that will answer this request ("s3", "awslambda", "ec2", "moto_api", …).

    moto's own routing decision (credential scope, then body and path), so the sandbox judges
    exactly the requests moto will answer as S3, signed or not. It may read and rewind the body.
    """
    return str(getattr(app.get_application(environ), "service", ""))


def reset() -> None:
    """A fresh sandbox starts from empty backends (they are process-wide)."""
    from moto.moto_api import _internal

    _internal.moto_api_backend.reset()


def account_of(access_key: str) -> str:
    """The account moto files a caller's resources under (the default account for unknown keys)."""
    from moto.iam import models

    return models.get_account_id_from(access_key) if access_key else ACCOUNT_ID


_lookup_patched = False


def look_up_keys_in_existing_partitions() -> None:
    """Make moto's access-key → account lookup read only the IAM backends that exist; same answers.

    moto 5.2's get_account_id_from (iam/models.py), called for every request (BaseResponse.get_current_account)
    and by account_of, reads `account[partition].access_keys` for all six partitions, and reading a partition
    builds its IAM backend, which loads the ~1,400 AWS managed policies (MOTO_IAM_LOAD_MANAGED_POLICIES): five
    backends nobody asked for, ~0.6 s and ~100k objects the garbage collector then scans. A backend not yet
    built holds no access keys, so skipping it cannot change the answer. Patched once per process;
    moto's callers import the function at call time, so they get this one.
    """
    global _lookup_patched
    if _lookup_patched:
        return
    from moto.iam import models
    from moto.utilities.utils import PARTITION_NAMES

    def get_account_id_from(access_key: str) -> str:
        for account_id, account in list(models.iam_backends.items()):  # list(): moto's guard for threads
            for partition in PARTITION_NAMES:
                backend = dict.get(account, partition)  # not account[...]: that would build it
                if backend is not None and access_key in backend.access_keys:
                    return str(account_id)
        return DEFAULT_ACCOUNT_ID

    models.get_account_id_from = get_account_id_from
    _lookup_patched = True


# --- S3 ----------------------------------------------------------------------------------------

_judging_elsewhere: contextvars.ContextVar[bool] = contextvars.ContextVar("s3gw_sandbox_judges", default=False)
_patched = False


def silence_moto_bucket_policy() -> None:
    """Make the sandbox's evaluator the only judge of bucket policies.

    moto's FakeBucket.get_permission evaluates the bucket policy itself, without conditions: under
    a Deny-unless-SourceVpce policy it refuses every object call (and never checks list calls).
    It is the only hook moto uses (s3/responses.py: key GET/PUT/HEAD/DELETE and DeleteObjects).
    Patched once per process, and neutral only inside requests the sandbox has already judged,
    so that mock_aws users elsewhere in the process keep moto's behaviour.
    """
    global _patched
    if _patched:
        return
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket

    original = FakeBucket.get_permission

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if _judging_elsewhere.get():
            return PermissionResult.NEUTRAL
        return original(self, action, resource)

    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
    _patched = True


@contextlib.contextmanager
def judged_by_sandbox() -> Iterator[None]:
    token = _judging_elsewhere.set(True)
    try:
        yield
    finally:
        _judging_elsewhere.reset(token)


_tags_patched = False


def honour_create_bucket_tags() -> None:
    """Apply the tags of CreateBucketConfiguration.Tags, as S3 does; moto 5.2 drops them.

    S3's CreateBucket takes the bucket's tags in the same call (botocore's s3 model, CreateBucket ->
    CreateBucketConfiguration.Tags: "An array of tags that you can apply to the bucket that you're
    creating"; https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html). A bucket that
    existed before the call keeps its tags. Patched once per process (the tests' moto too).
    """
    global _tags_patched
    if _tags_patched:
        return
    import xmltodict
    from moto.s3.responses import S3Response

    original = S3Response._bucket_response_put

    def put(self: Any, request: Any, bucket_name: str, querystring: dict[str, Any]) -> Any:
        existed = bucket_name in self.backend.buckets
        answer = original(self, request, bucket_name, querystring)
        if not querystring and not existed and self.body and bucket_name in self.backend.buckets:
            configuration = xmltodict.parse(self.body, force_list={"Tag": True}).get("CreateBucketConfiguration")
            tags = ((configuration or {}).get("Tags") or {}).get("Tag") or []
            if tags:
                self.backend.put_bucket_tagging(bucket_name, {t["Key"]: t.get("Value") or "" for t in tags})
        return answer

    S3Response._bucket_response_put = put  # type: ignore[method-assign]
    _tags_patched = True


_pages_patched = False


def page_list_buckets() -> None:
    """ListBuckets pages as S3 pages it; moto 5.2 cuts the list at max-buckets and sends no ContinuationToken, so a
    client that pages (as s3gw does) never sees the rest.

    S3: "If you specify the bucket-region, prefix, or continuation-token query parameters without using max-buckets
    ..., Amazon S3 applies a default page size of 10,000 and provides a continuation token if there are more
    buckets"; the answer's ContinuationToken "is included in the response when there are more buckets", and each
    bucket names its BucketRegion (botocore's s3 model, ListBuckets; the S3 API Reference, ListBuckets). Buckets are
    listed by name, so a token is the last name of a page (S3's tokens are opaque; a client only hands them back).
    BucketRegion filtering is moto's own. Patched once per process (the tests' moto too)."""
    global _pages_patched
    if _pages_patched:
        return
    import base64

    from moto.core.responses import ActionResult
    from moto.s3.responses import S3Response

    def all_buckets(self: Any) -> Any:
        self.data["Action"] = "ListAllMyBuckets"
        self._authenticate_and_authorize_s3_action()
        prefix, region = self._get_param("prefix"), self._get_param("bucket-region")
        size, token = self._get_param("max-buckets"), self._get_param("continuation-token")
        listed = sorted(self.backend.list_buckets(prefix=prefix, bucket_region=region, max_buckets=None),
                        key=lambda bucket: bucket.name)
        if token:
            after = base64.urlsafe_b64decode(token.encode()).decode()
            listed = [bucket for bucket in listed if bucket.name > after]
        paged = bool(size or region or prefix or token is not None)
        page = listed[:int(size or 10000)] if paged else listed
        result: dict[str, Any] = {
            "Owner": {"ID": "bcaf1ffd86f41161ca5fb16fd081034f", "DisplayName": "webfile"},  # moto's own owner
            "Buckets": [{"Name": bucket.name, "CreationDate": bucket.creation_date_ISO8601,
                         "BucketRegion": bucket.region_name} for bucket in page]}
        if len(page) < len(listed):
            result["ContinuationToken"] = base64.urlsafe_b64encode(page[-1].name.encode()).decode()
        if prefix:
            result["Prefix"] = prefix
        self.data["Action"] = "ListBuckets"
        return self.serialized(ActionResult(result))

    S3Response.all_buckets = all_buckets  # type: ignore[method-assign]
    _pages_patched = True


def bucket_region(account: str, bucket: str, partition: str = _PARTITION) -> str | None:
    found = backends.get_backend("s3")[account][partition].buckets.get(bucket)
    return None if found is None else str(found.region_name)


_routes_patched = False


def route_gateway_endpoint_tables() -> None:
    """ModifyVpcEndpoint's AddRouteTableIds / RemoveRouteTableIds add and remove the endpoint's route, as EC2 does;
    moto 5.2 only edits the endpoint's list of tables (and its DeleteVpcEndpoints then fails on a table it added
    so: InvalidRoute.NotFound).

    A gateway endpoint's route (destination: the service's prefix list, target: the endpoint) "is automatically
    added to each route table that you select" (AWS PrivateLink guide, "Gateway endpoints", Routing); the tables
    are selected at CreateVpcEndpoint or later by ModifyVpcEndpoint ("(Gateway endpoint) The IDs of the route
    tables to associate with the endpoint", EC2 API Reference, ModifyVpcEndpoint AddRouteTableIds). Patched once
    per process (the tests' moto too).
    """
    global _routes_patched
    if _routes_patched:
        return
    from moto.ec2.models.vpcs import VPCEndPoint

    original = VPCEndPoint.modify

    def modify(self: Any, policy_doc: Any, add_subnets: Any, remove_subnets: Any, add_route_tables: Any,
               remove_route_tables: Any, *rest: Any) -> None:
        before = set(self.route_table_ids or [])
        original(self, policy_doc, add_subnets, remove_subnets, add_route_tables, remove_route_tables, *rest)
        prefix_list = getattr(self, "destination_prefix_list_id", None)
        if str(self.vpc_endpoint_type).lower() != "gateway" or not prefix_list:
            return
        for table_id in [t for t in add_route_tables or [] if t not in before]:
            self.ec2_backend.create_route(table_id, None, gateway_id=self.id, destination_prefix_list_id=prefix_list)
        for table_id in [t for t in remove_route_tables or [] if t in before]:
            with contextlib.suppress(Exception):  # the route removed by hand meanwhile: nothing left to take off
                self.ec2_backend.delete_route(table_id, None, destination_prefix_list_id=prefix_list)

    VPCEndPoint.modify = modify  # type: ignore[method-assign]
    _routes_patched = True


def s3_bucket_from_host(host: str) -> str | None:
    """The bucket moto 5.2 reads from the Host (virtual-hosted style), or None when it reads the path.

    moto decides by the Host (s3/responses.py S3Response.subdomain_based_buckets: "localhost…", bare IPs and
    s3[.-]<region>.amazonaws.com are path style, any other dotted name virtual-hosted; s3/utils.py
    bucket_name_from_url then takes its first label, or the part before .s3… on amazonaws.com). The sandbox asks
    moto's own functions, so that the bucket it judges is always the bucket moto acts on.
    """
    from types import SimpleNamespace

    from moto.s3.responses import S3Response
    from moto.s3.utils import bucket_name_from_url

    request = SimpleNamespace(headers={"host": host}, url=f"http://{host}/")
    if not host or not S3Response.subdomain_based_buckets(request):
        return None
    return bucket_name_from_url(f"http://{host}/") or None


def s3_access_point_host(host: str) -> bool:
    """moto resolves "<name>-<account>.s3-accesspoint.<region>…" hosts to the access point's bucket
    (S3Response.is_access_point)."""
    return ".s3-accesspoint." in host or ".s3-object-lambda." in host


_gone_endpoints_patched = False


def answer_gone_endpoints_as_ec2() -> None:
    """DeleteVpcEndpoints of an endpoint that no longer exists (never did, or already deleted) answers 200 with an
    Unsuccessful item coded InvalidVpcEndpoint.NotFound, as EC2 does; moto 5.2 answers an empty Unsuccessful list.

    Source: terraform-provider-aws, internal/service/ec2/vpc_endpoint.go (resourceVPCEndpointDelete turns the
    Unsuccessful items into an error and takes errCodeInvalidVPCEndpointNotFound, "InvalidVpcEndpoint.NotFound" in
    internal/service/ec2/errors.go, as the endpoint being gone) and its PR #16656 (DeleteVpcEndpoints reports what
    it could not delete in Unsuccessful, not as an error); the EC2 API Reference, DeleteVpcEndpoints ("Unsuccessful:
    Information about the VPC endpoints that were not successfully deleted"). Patched once per process (the tests'
    moto too).
    """
    global _gone_endpoints_patched
    if _gone_endpoints_patched:
        return
    from moto.ec2.responses.vpcs import VPCs

    original = VPCs.delete_vpc_endpoints

    def delete_vpc_endpoints(self: Any) -> Any:
        from moto.core.responses import ActionResult

        known = self.ec2_backend.vpc_end_points
        asked = list(self._get_param("VpcEndpointIds", []))
        gone = [endpoint_id for endpoint_id in asked
                if endpoint_id not in known or str(known[endpoint_id].state).lower() == "deleted"]
        if not gone:
            return original(self)
        # moto would take a deleted endpoint's routes out again (InvalidRoute.NotFound): only the others go to it
        self.ec2_backend.delete_vpc_endpoints(vpce_ids=[e for e in asked if e not in gone])
        return ActionResult({"Unsuccessful": [
            {"ResourceId": endpoint_id,
             "Error": {"Code": "InvalidVpcEndpoint.NotFound",
                       "Message": f"The Vpc Endpoint Id '{endpoint_id}' does not exist"}}
            for endpoint_id in gone]})

    VPCs.delete_vpc_endpoints = delete_vpc_endpoints  # type: ignore[method-assign]
    _gone_endpoints_patched = True


def bucket_exists(account: str, bucket: str, partition: str = _PARTITION) -> bool:
    return bucket in backends.get_backend("s3")[account][partition].buckets


def bucket_policy(account: str, bucket: str, partition: str = _PARTITION) -> str | None:
    found = backends.get_backend("s3")[account][partition].buckets.get(bucket)
    policy = getattr(found, "policy", None)
    return policy.decode() if isinstance(policy, bytes) else policy


# --- EC2 endpoints, STS sessions -------------------------------------------------------------------


def endpoint_policy(account: str, endpoint_id: str) -> str | None:
    """The policy document of a VPC endpoint, in whichever region of the account holds it."""
    for backend in list(backends.get_backend("ec2")[account].values()):
        endpoint = getattr(backend, "vpc_end_points", {}).get(endpoint_id)
        if endpoint is not None:
            return str(endpoint.policy_document or "") or None
    return None


def table_policy(account: str, region: str, table: str) -> tuple[bool, str | None]:
    """(whether the DynamoDB table exists, its resource-based policy). moto keeps a table's policy after DeleteTable
    (DynamoDBBackend.resource_policies); AWS deletes it with the table, so a policy is read only for a live table."""
    backend = backends.get_backend("dynamodb")[account][region]
    found = backend.tables.get(table)
    if found is None:
        return False, None
    policy = backend.resource_policies.get(found.table_arn)
    return True, (str(policy.policy_doc) if policy is not None else None)


def assumed_role_of(access_key: str) -> tuple[str, str, str] | None:
    """(session ARN, role ARN, account) of credentials made by STS AssumeRole, or None.

    moto keeps each AssumeRole answer (its access key, role and session) in the STS backend of the
    role's account; the IAM backend knows which account an access key belongs to.
    """
    if not access_key:
        return None
    account = account_of(access_key)
    for partition_backend in list(backends.get_backend("sts")[account].values()):
        session = partition_backend.get_assumed_role_from_access_key(access_key)
        if session is not None:
            return str(session.arn), str(session.role_arn), account
    return None


# --- IAM ---------------------------------------------------------------------------------------


def _role(account: str, role_arn: str) -> Any | None:
    partition = role_arn.split(":")[1] if role_arn.count(":") >= 5 else _PARTITION  # moto keeps IAM per partition
    iam = backends.get_backend("iam")[account][partition]
    try:
        return iam.get_role_by_arn(role_arn)
    except Exception:  # moto's NotFoundException; any other failure means "no such role" too
        return None


def role_created_at(account: str, role_arn: str) -> float | None:
    role = _role(account, role_arn)
    return role.create_date.timestamp() if role is not None else None


def role_policies(account: str, role_arn: str) -> list[dict[str, Any]]:
    """The role's identity policies: inline documents and the default version of each attached one."""
    role = _role(account, role_arn)
    if role is None:
        return []
    documents: list[Any] = list(role.policies.values())
    for managed in role.managed_policies.values():
        documents += [v.document for v in managed.versions if v.is_default]
    return [_as_dict(d) for d in documents]


def _as_dict(document: Any) -> dict[str, Any]:
    if isinstance(document, dict):
        return document
    return dict(parse_policy(str(document)))


# --- Lambda ------------------------------------------------------------------------------------


def _lambda_model(account: str, region: str, name_or_arn: str, qualifier: str | None = None) -> Any | None:
    from moto.awslambda.exceptions import LambdaClientError

    try:
        return backends.get_backend("lambda")[account][region].get_function(name_or_arn, qualifier)
    except (LambdaClientError, KeyError):
        return None


def lambda_function(account: str, region: str, name_or_arn: str, qualifier: str | None = None) -> FunctionSpec | None:
    """The function as stored by moto (its zip included), or None when there is no such function."""
    function = _lambda_model(account, region, name_or_arn, qualifier)
    if function is None:
        return None
    vpc = function._vpc_config or {}  # as given, without moto's made-up VpcId
    return FunctionSpec(
        account=account,
        region=region,
        name=function.function_name,
        arn=function.function_arn,
        handler=function.handler or "",
        runtime=function.run_time or "",
        timeout=int(function.timeout),
        memory_mb=int(function.memory_size),
        version=str(function.version),
        environment={str(k): str(v) for k, v in (function.environment_vars or {}).items()},
        role_arn=function.role,
        subnet_ids=list(vpc.get("SubnetIds") or []),
        security_group_ids=list(vpc.get("SecurityGroupIds") or []),
        code_sha256=function.code_sha_256,
        code_zip=function.code_bytes,
        ipv6_allowed=bool(vpc.get("Ipv6AllowedForDualStack")),
    )


def keep_lambda_ipv6(account: str, region: str, name: str) -> None:
    """Ipv6AllowedForDualStack stays on after an update whose VpcConfig left it out (SandboxApp.update_function)."""
    function = _lambda_model(account, region, name)
    if function is not None and function._vpc_config:
        function._vpc_config = {**function._vpc_config, "Ipv6AllowedForDualStack": True}


def save_function_logs(spec: FunctionSpec, log: str) -> None:
    """Best effort: the log also lands in CloudWatch Logs (/aws/lambda/<name>), as in AWS."""
    with contextlib.suppress(Exception):
        function = _lambda_model(spec.account, spec.region, spec.arn)
        function.logs_backend.ensure_log_group(function.logs_group_name)
        function.save_logs(log)


# --- EC2 ---------------------------------------------------------------------------------------


def _ec2(account: str, region: str) -> Any:
    return backends.get_backend("ec2")[account][region]


def set_endpoint_state(account: str, region: str, endpoint_id: str, state: str) -> None:
    """What DescribeVpcEndpoints answers for the endpoint's State (Behaviours.endpoint_pending)."""
    endpoint = getattr(_ec2(account, region), "vpc_end_points", {}).get(endpoint_id)
    if endpoint is not None and endpoint.state in ("pending", "available"):
        endpoint.state = state


def subnet_exists(account: str, region: str, subnet_id: str) -> bool:
    try:
        _ec2(account, region).get_subnet(subnet_id)
        return True
    except Exception:
        return False


def subnet_vpc(account: str, region: str, subnet_id: str) -> str | None:
    try:
        return str(_ec2(account, region).get_subnet(subnet_id).vpc_id)
    except Exception:
        return None


def subnet_zone(account: str, region: str, subnet_id: str) -> str | None:
    try:
        return str(_ec2(account, region).get_subnet(subnet_id).availability_zone)
    except Exception:
        return None


def zone_names(account: str, region: str) -> list[str]:
    return sorted(str(zone.name) for zone in _ec2(account, region).describe_availability_zones())


def security_group_exists(account: str, region: str, group_id: str) -> bool:
    return _ec2(account, region).get_security_group_from_id(group_id) is not None


def create_lambda_eni(account: str, region: str, subnet_id: str, group_ids: list[str], function_name: str) -> str:
    """An ENI shaped like Lambda's Hyperplane ENIs: in-use, requester-managed, interface type lambda, described
    `AWS Lambda VPC ENI-<function>` with nothing after the name (see lifecycle.py for the sources).

    moto has no API to create a requester-managed ENI, so it is built in the backend directly.
    """
    eni = _ec2(account, region).create_network_interface(
        subnet=subnet_id,
        private_ip_address=None,
        group_ids=group_ids,
        description=f"AWS Lambda VPC ENI-{function_name}",
    )
    eni.status = "in-use"
    eni.requester_managed = True
    eni.requester_id = "AROAJLAMBDAENIMANAGER:AWSLambda"  # hyperplane ENIs name Lambda's service role
    eni.interface_type = "lambda"
    return str(eni.id)


def set_eni_status(account: str, region: str, eni_id: str, status: str) -> None:
    eni = _ec2(account, region).enis.get(eni_id)
    if eni is not None:
        eni.status = status


def delete_eni(account: str, region: str, eni_id: str) -> None:
    _ec2(account, region).enis.pop(eni_id, None)


def eni_status(account: str, region: str, eni_id: str) -> str | None:
    eni = _ec2(account, region).enis.get(eni_id)
    return None if eni is None else str(eni.status)


def enis_using(account: str, region: str, *, group_id: str = "", subnet_id: str = "") -> list[str]:
    """Every ENI (Lambda's or not) in the subnet or carrying the group: what AWS counts as a dependency."""
    found = []
    for eni in list(_ec2(account, region).enis.values()):
        groups = {g.id for g in eni._group_set}  # the ENI's own groups, not an attached instance's
        if (group_id and group_id in groups) or (subnet_id and eni.subnet.id == subnet_id):
            found.append(str(eni.id))
    return found


# --- IAM users (the sandbox's own IAM enforcement, see authorize.py) ------------------------------


def iam_user_of(access_key: str) -> tuple[str, list[dict[str, Any]]] | None:
    """The IAM user an access key belongs to, with its identity policies (inline, and the default version of
    each attached managed policy); None for a key no IAM user owns (the account's own, the sandbox's)."""
    from moto.iam.models import iam_backends

    for account in list(iam_backends.values()):
        for backend in list(account.values()):  # only the partitions that exist already
            key = backend.access_keys.get(access_key)
            user = backend.users.get(key.user_name) if key is not None else None
            if user is None:
                continue
            documents: list[Any] = list(user.policies.values())
            for managed in user.managed_policies.values():
                documents += [v.document for v in managed.versions if v.is_default]
            return str(user.arn), [_as_dict(d) for d in documents]
    return None


def ec2_tags(account: str, region: str, resource_id: str) -> dict[str, str]:
    return dict(_ec2(account, region).tags.get(resource_id, {}))


def route_table_association(account: str, region: str, association_id: str) -> tuple[str, str] | None:
    """(route table id, subnet or gateway id) of an association (moto 5.2: RouteTable._associations)."""
    for table in _ec2(account, region).route_tables.values():
        target = table._associations.get(association_id)
        if target is not None:
            return str(table.id), str(target)
    return None


def ec2_vpc_of(account: str, region: str, resource_id: str) -> str | None:
    """The VPC of a route table, subnet or security group (for the ec2:Vpc condition key)."""
    ec2 = _ec2(account, region)
    try:
        if resource_id.startswith("rtb-"):
            return str(ec2.get_route_table(resource_id).vpc_id)
        if resource_id.startswith("subnet-"):
            return str(ec2.get_subnet(resource_id).vpc_id)
        if resource_id.startswith("sg-"):
            return str(ec2.get_security_group_from_id(resource_id).vpc_id)
    except Exception:
        return None
    return None


def vpc_dependencies(account: str, region: str, vpc_id: str) -> list[str]:
    """What keeps a VPC from being deleted on AWS that moto 5.2 lets go with it: its security groups other than
    the default one, and its VPC endpoints (moto already refuses subnets and extra route tables). AWS: "You must
    detach or delete all gateways and resources that are associated with the VPC before you can delete it ...
    delete all security groups associated with the VPC (except the default one)"
    (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteVpc.html)."""
    ec2 = _ec2(account, region)
    groups = [str(g.id) for g in ec2.groups.get(vpc_id, {}).values() if g.name != "default"]
    endpoints = [str(e.id) for e in ec2.vpc_end_points.values()
                 if e.vpc_id == vpc_id and str(e.state).lower() not in ("deleted", "deleting")]
    return groups + endpoints


# --- IPv6 (issue 23) ----------------------------------------------------------------------------------

# S3's IPv6 ranges, as ip-ranges.json lists them for S3 ("ipv6_prefix" entries of service S3): the sandbox's stand-in
# entries for every region. AWS keeps them in a prefix list of their own (a list holds one address family: VPC User
# Guide, "Prefix lists", concepts and rules), named as its other IPv6 lists, com.amazonaws.<region>.ipv6.<service>
# (moto's EC2 already has com.amazonaws.<region>.ipv6.vpc-lattice); moto 5.2 has no IPv6 list for S3.
S3_IPV6_RANGES = ("2600:1fa0::/32", "2600:1ff0::/32")
_ipv6_patched = False


def model_s3_ipv6() -> None:
    """What moto 5.2 leaves out of S3's IPv6 path, patched once per process:

    - the AWS-managed prefix list of S3's IPv6 ranges, in every region's EC2;
    - a gateway endpoint's IpAddressType (moto ignores it on CreateVpcEndpoint and ModifyVpcEndpoint and answers
      none): ipv4 unless asked; "dualstack" makes each of its route tables route S3's IPv6 list to it too, and
      "ipv4" takes those routes away again (AWS PrivateLink guide, "Gateway endpoints": IP address type, and
      Routing: the routes come and go with the endpoint's tables; terraform-aws-modules/terraform-aws-vpc#1091: an
      endpoint left ipv4 gives its tables the IPv4 prefix-list route only, and IPv6 clients hang).
    """
    global _ipv6_patched
    if _ipv6_patched:
        return
    from moto.ec2.models.managed_prefixes import ManagedPrefixListBackend
    from moto.ec2.models.vpcs import VPCEndPoint
    from moto.ec2.responses.vpcs import VPCs

    from s3gw.reach import s3_ipv6_prefix_list_name

    default_lists = ManagedPrefixListBackend.create_default_pls

    def create_default_pls(self: Any) -> None:
        default_lists(self)
        self._create_aws_managed_prefix_list(
            name=s3_ipv6_prefix_list_name(self.region_name), address_family="IPv6",
            entries=[{"Cidr": cidr, "Description": "default"} for cidr in S3_IPV6_RANGES])

    def ipv6_list(endpoint: Any) -> str | None:
        name = s3_ipv6_prefix_list_name(endpoint.ec2_backend.region_name)
        if not str(endpoint.service_name).endswith(".s3") or str(endpoint.vpc_endpoint_type).lower() != "gateway":
            return None
        return next((p.id for p in endpoint.ec2_backend.managed_prefix_lists.values() if p.prefix_list_name == name),
                    None)

    def route_ipv6(endpoint: Any, tables: list[str], on: bool) -> None:
        list_id = ipv6_list(endpoint)
        for table_id in tables if list_id else []:
            with contextlib.suppress(Exception):  # already there / already gone (removed by hand)
                if on:
                    endpoint.ec2_backend.create_route(table_id, None, gateway_id=endpoint.id,
                                                      destination_prefix_list_id=list_id)
                else:
                    endpoint.ec2_backend.delete_route(table_id, None, destination_prefix_list_id=list_id)

    def set_type(endpoint: Any, wanted: str | None) -> None:
        before = getattr(endpoint, "ip_address_type", None) or "ipv4"
        endpoint.ip_address_type = wanted or before
        if (before == "dualstack") != (endpoint.ip_address_type == "dualstack"):
            route_ipv6(endpoint, list(endpoint.route_table_ids or []), endpoint.ip_address_type == "dualstack")

    create, modify_answer = VPCs.create_vpc_endpoint, VPCs.modify_vpc_endpoint

    def create_vpc_endpoint(self: Any) -> Any:
        answer = create(self)
        set_type(answer.result["VpcEndpoint"], str(self._get_param("IpAddressType") or "ipv4").lower())
        return answer

    def modify_vpc_endpoint(self: Any) -> Any:
        answer = modify_answer(self)
        endpoint = self.ec2_backend.vpc_end_points.get(self._get_param("VpcEndpointId"))
        if endpoint is not None and self._get_param("IpAddressType"):
            set_type(endpoint, str(self._get_param("IpAddressType")).lower())
        return answer

    modify_tables = VPCEndPoint.modify

    def modify(self: Any, policy_doc: Any, add_subnets: Any, remove_subnets: Any, add_route_tables: Any,
               remove_route_tables: Any, *rest: Any) -> None:
        before = set(self.route_table_ids or [])
        modify_tables(self, policy_doc, add_subnets, remove_subnets, add_route_tables, remove_route_tables, *rest)
        if getattr(self, "ip_address_type", None) == "dualstack":
            route_ipv6(self, [t for t in add_route_tables or [] if t not in before], True)
            route_ipv6(self, [t for t in remove_route_tables or [] if t in before], False)

    delete_endpoints = VPCs.delete_vpc_endpoints

    def delete_vpc_endpoints(self: Any) -> Any:
        for endpoint_id in self._get_param("VpcEndpointIds", []):
            endpoint = self.ec2_backend.vpc_end_points.get(endpoint_id)
            if endpoint is not None and getattr(endpoint, "ip_address_type", None) == "dualstack" \
                    and str(endpoint.state).lower() != "deleted":
                route_ipv6(endpoint, list(endpoint.route_table_ids or []), False)
        return delete_endpoints(self)

    ManagedPrefixListBackend.create_default_pls = create_default_pls  # type: ignore[method-assign]
    VPCs.create_vpc_endpoint = create_vpc_endpoint  # type: ignore[method-assign]
    VPCs.modify_vpc_endpoint = modify_vpc_endpoint  # type: ignore[method-assign]
    VPCs.delete_vpc_endpoints = delete_vpc_endpoints  # type: ignore[method-assign]
    VPCEndPoint.modify = modify  # type: ignore[method-assign]
    _ipv6_patched = True


# --- each region's own S3 ranges (issue 24: cross-region S3 in flow logs) ------------------------------------------

# moto 5.2 gives every region's com.amazonaws.<region>.s3 list the same three us-east-1 ranges (52.216.0.0/15,
# 3.5.0.0/19, 54.231.0.0/16, which ip-ranges.json lists for S3 in us-east-1). In AWS each region's list holds that
# region's S3 ranges and no other's: ip-ranges.json gives every S3 prefix one region (VPC User Guide, "AWS IP address
# ranges": docs.aws.amazon.com/vpc/latest/userguide/aws-ip-ranges.html), and a gateway endpoint, which routes its
# region's list, "does not support cross-Region requests" (PrivateLink guide, "Gateway endpoints for Amazon S3").
# So the sandbox keeps moto's ranges for us-east-1 and gives every other region a /24 of its own inside 3.5.0.0/16
# (an S3 block of ip-ranges.json): the figures are the sandbox's stand-ins, the behaviour (no two regions share a
# range) is AWS's.
_regional_s3_patched = False


def regional_s3_cidr(region: str) -> str | None:
    """The sandbox's stand-in S3 range for a region other than us-east-1 (None: moto's ranges stay)."""
    if region == "us-east-1":
        return None
    import zlib

    from s3gw.config import known_regions

    ordered = sorted(known_regions())  # one /24 each, none shared
    index = ordered.index(region) if region in ordered else len(ordered) + zlib.crc32(region.encode()) % 32
    return f"3.{5 + index // 128}.{128 + index % 128}.0/24"


def model_regional_s3_ranges() -> None:
    global _regional_s3_patched
    if _regional_s3_patched:
        return
    from moto.ec2.models.managed_prefixes import ManagedPrefixListBackend

    default_lists = ManagedPrefixListBackend.create_default_pls

    def create_default_pls(self: Any) -> None:
        default_lists(self)
        cidr = regional_s3_cidr(self.region_name)
        name = f"com.amazonaws.{self.region_name}.s3"
        for prefix_list in self.managed_prefix_lists.values() if cidr else []:
            if prefix_list.prefix_list_name == name:
                prefix_list.entries = {prefix_list.version: [{"Cidr": cidr, "Description": "default"}]}

    ManagedPrefixListBackend.create_default_pls = create_default_pls
    _regional_s3_patched = True
