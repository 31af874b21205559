"""The S3 gateway endpoint, attached to the route table each private subnet really uses."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from s3gw.errors import AwsError, UsageError, WaitTimeout, translate
from s3gw.policy.documents import DEFAULT_ENDPOINT_POLICY, account_endpoint_policy, canonical, endpoint_policy
from s3gw.reach import endpoint_address_type, s3_ipv6_prefix_list_name
from s3gw.steps.base import (
    Context,
    Drift,
    Step,
    adoption,
    at_once,
    call,
    create_once,
    describe_by_id,
    endpoint_only_services,
    is_code,
    is_not_found,
    not_visible,
    record_adoption,
    retry,
    start_wait,
)
from s3gw.steps.bucket import bucket_name  # the bucket step runs later, but its name is known already
from s3gw.steps.route_tables import effective_tables

_POLICY = "policy"  # the drift key of the endpoint policy (the others are route table ids)
_ADDRESS_TYPE = "ip_address_type"  # the drift key of the endpoint's IpAddressType
_GONE_STATES = ("deleted", "deleting", "rejected", "failed", "expired")
# A new endpoint may be `pending` before it is `available`: terraform-provider-aws waits for that after every create
# (internal/service/ec2/vpc_endpoint.go, resourceVPCEndpointCreate → waitVPCEndpointAvailable: Pending "pending",
# Target "available"/"pendingAcceptance", polled every 5 s, bounded by vpcEndpointCreationTimeout, 10 min).
AVAILABLE_WAIT = 600.0
_POLL = 2.0


def s3_service_name(ctx: Context) -> str:
    """The region's S3 gateway service, as the region names it (not assumed from a pattern)."""
    return str(ctx.remember("s3_service_name", lambda: gateway_service_name(ctx, "s3", "choose another --region")))


def gateway_service_name(ctx: Context, service: str, way_out: str) -> str:
    """The region's gateway endpoint service for `service` (s3, dynamodb), as the region names it: the region's
    gateway services are read once per run, for both lanes."""
    services = ctx.remember("gateway_services", lambda: call(
        "listing the region's gateway endpoint services",
        ctx.aws.ec2.describe_vpc_endpoint_services,
        Filters=[{"Name": "service-type", "Values": ["Gateway"]}],
    ))
    wanted = f"com.amazonaws.{ctx.config.region}.{service}"
    names = [d["ServiceName"] for d in services.get("ServiceDetails", [])] or services.get("ServiceNames", [])
    if wanted in names:
        return wanted
    found = [name for name in names if name.endswith(f".{service}")]
    if len(found) == 1:
        return str(found[0])
    label = {"s3": "S3", "dynamodb": "DynamoDB"}.get(service, service)
    raise AwsError(f"the region {ctx.config.region} offers no {label} gateway endpoint service", way_out)


def s3_prefix_list_id(ctx: Context) -> str:
    """The region's S3 prefix list, read once per run."""
    name = f"com.amazonaws.{ctx.config.region}.s3"
    found = _s3_prefix_lists(ctx).get(name)
    if not found:
        raise AwsError(f"the region {ctx.config.region} has no managed prefix list {name}")
    return found


def s3_ipv6_prefix_list_id(ctx: Context) -> str:
    """The region's prefix list of S3's IPv6 ranges (s3gw.reach cites why it is a list of its own), read with the
    IPv4 one in the same call."""
    name = s3_ipv6_prefix_list_name(ctx.config.region)
    found = _s3_prefix_lists(ctx).get(name)
    if not found:
        raise AwsError(f"the region {ctx.config.region} has no managed prefix list {name} (S3's IPv6 ranges)",
                       "use --ip-address-type ipv4 in this region")
    return found


def _s3_prefix_lists(ctx: Context) -> dict[str, str]:
    def read() -> dict[str, str]:
        names = [f"com.amazonaws.{ctx.config.region}.s3", s3_ipv6_prefix_list_name(ctx.config.region)]
        lists = call("looking up the S3 prefix lists", ctx.aws.ec2.describe_managed_prefix_lists,
                     Filters=[{"Name": "prefix-list-name", "Values": names}])["PrefixLists"]
        return {str(p["PrefixListName"]): str(p["PrefixListId"]) for p in lists}

    return dict(ctx.remember("s3_prefix_lists", read))


def adoptable(endpoints: list[dict[str, Any]], region: str) -> list[dict[str, Any]]:
    """The VPC's endpoints s3gw adopts rather than make its own: the region's S3 service, gateway type, not going
    away. `up` and `plan` warn about a new endpoint's route only when there is none."""
    service = f"com.amazonaws.{region}.s3"
    return [e for e in endpoints if e.get("ServiceName") == service and str(e.get("VpcEndpointType")).lower()
            == "gateway" and e.get("State", "").lower() not in _GONE_STATES]


def wanted_policy(ctx: Context) -> dict[str, Any]:
    if ctx.config.endpoint_only:  # AWS's default full access, unless --endpoint-policy scoped
        if ctx.config.endpoint_policy == "scoped":
            return account_endpoint_policy(ctx.aws.account)
        return DEFAULT_ENDPOINT_POLICY
    return endpoint_policy(bucket_name(ctx), ctx.aws.account, ctx.aws.partition)


def _policy_words(ctx: Context) -> str:
    if not ctx.config.endpoint_only:
        return "limited to the stack's bucket and account"
    return "limited to the account's own resources" if ctx.config.endpoint_policy == "scoped" else \
        "AWS's default full access"


class EndpointStep(Step):
    name = "endpoint"
    title = "S3 gateway endpoint"
    keys = ("endpoint_id", "prefix_list_id")

    def active(self, ctx: Context) -> bool:  # an endpoint-only stack has it when --services names s3
        return super().active(ctx) and (not ctx.config.endpoint_only or "s3" in endpoint_only_services(ctx))

    def _describe(self, ctx: Context, *, fresh: bool = False) -> dict[str, Any] | None:
        """The endpoint, read once per run (or as this run made it)."""
        if fresh:
            ctx.unsee("endpoint")
        return ctx.remember("endpoint", lambda: self._read(ctx))  # type: ignore[no-any-return]

    def _read(self, ctx: Context) -> dict[str, Any] | None:
        ec2 = ctx.aws.ec2
        endpoint_id = ctx.outputs.get("endpoint_id")
        if endpoint_id:
            # moto has no vpc-endpoint-id filter; VpcEndpointIds= works on both.
            found = describe_by_id(ec2.describe_vpc_endpoints, "VpcEndpoints",
                                   gone=("InvalidVpcEndpointId.NotFound",), VpcEndpointIds=[endpoint_id])
            live = [e for e in found if e.get("State", "").lower() not in _GONE_STATES]
            if live:
                return live[0]
        vpc_id = ctx.outputs.get("vpc_id")
        if not vpc_id:
            return None
        found = call(
            "looking up the endpoint",
            ec2.describe_vpc_endpoints,
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, ctx.stack_filter()],
        )["VpcEndpoints"]
        # The stack's DynamoDB gateway endpoint carries the same tag (steps.dynamodb_endpoint): not this one.
        live = [e for e in found if e.get("State", "").lower() not in _GONE_STATES
                and not str(e.get("ServiceName", "")).endswith(".dynamodb")]
        return live[0] if live else None

    def find(self, ctx: Context) -> dict[str, Any] | None:
        # find starts a run's look: check and repair reuse it. The region's S3 prefix list (recorded with the
        # endpoint), and, when no endpoint is recorded (one is likely made), its S3 service, are read at once
        # (run.open_context read them already in the run's first round, but for a context handed in).
        fresh = ctx.seen.get("vpc_new") != ctx.outputs.get("vpc_id")  # a VPC this run made has no endpoint yet
        reads = [lambda: self._describe(ctx, fresh=fresh), lambda: s3_prefix_list_id(ctx)]
        if not ctx.outputs.get("endpoint_id"):
            reads.append(lambda: s3_service_name(ctx))
        endpoint = at_once(ctx, *reads)[0]
        if endpoint is None and ctx.config.vpc_id:
            endpoint = self._adopt(ctx)
        if endpoint is None:
            return None
        return {"endpoint_id": endpoint["VpcEndpointId"], "prefix_list_id": s3_prefix_list_id(ctx)}

    def create(self, ctx: Context) -> None:
        vpc_id = ctx.outputs["vpc_id"]
        arguments = dict(
            VpcEndpointType="Gateway",
            VpcId=vpc_id,
            ServiceName=s3_service_name(ctx),
            # The tables the subnets use once the route tables step has associated them (its check waits for that):
            # the stack's own tables, or in a VPC the user brought the tables its subnets use already.
            RouteTableIds=list(ctx.outputs.get("route_table_ids") or []),
            PolicyDocument=json.dumps(wanted_policy(ctx)),  # AWS's default one too: said, not left to chance
            TagSpecifications=ctx.tag_spec("vpc-endpoint", f"{ctx.config.stack}-s3"),
            # One token per create: AWS answers a re-sent request with the endpoint the first one made. Not
            # one per stack: after a delete, the same token could hand back the deleted endpoint. moto
            # ignores tokens, and create_once covers that case too.
            ClientToken=uuid.uuid4().hex,
        )
        if ctx.config.dualstack:  # its tables then route S3's IPv6 prefix list to it too (s3gw.reach cites it)
            arguments["IpAddressType"] = "dualstack"
        endpoint = create_once(
            ctx, "creating the S3 gateway endpoint",
            lambda: ctx.aws.ec2_once.create_vpc_endpoint(**arguments)["VpcEndpoint"],
            lambda: self._describe(ctx, fresh=True),
        )
        ctx.record("endpoint_id", endpoint["VpcEndpointId"])
        ctx.seen["endpoint"] = endpoint  # CreateVpcEndpoint's reply holds its route tables and policy
        ctx.record("prefix_list_id", s3_prefix_list_id(ctx))
        self._wait_available(ctx, endpoint)

    def _wait_available(self, ctx: Context, endpoint: dict[str, Any]) -> None:
        """Wait while the endpoint is `pending` (AVAILABLE_WAIT); a `failed` one is an error with EC2's reason."""
        endpoint_id = endpoint["VpcEndpointId"]
        deadline = time.monotonic() + AVAILABLE_WAIT
        wait = None
        try:
            while str(endpoint.get("State", "")).lower() == "pending":
                if time.monotonic() > deadline:
                    raise WaitTimeout(f"endpoint {endpoint_id} still pending after {AVAILABLE_WAIT:.0f}s",
                                      "run 'up' again later; the endpoint is recorded")
                if wait is None:
                    ctx.progress(f"waiting: endpoint {endpoint_id} is pending")
                    wait = start_wait(ctx, f"creating S3 gateway endpoint {endpoint_id}")
                else:
                    wait.tick("State pending")
                ctx.sleep(_POLL)
                found = call("reading the new endpoint", ctx.aws.ec2.describe_vpc_endpoints, retry_not_found=ctx,
                             VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
                endpoint = found[0] if found else {"State": "deleted"}
        finally:
            if wait is not None:
                wait.end()
        state = str(endpoint.get("State", "")).lower()
        if state in _GONE_STATES:
            error = endpoint.get("LastError") or {}
            raise AwsError(f"endpoint {endpoint_id} is {state}" + (f": {error.get('Code')}: {error.get('Message')}"
                                                                   if error else ""),
                           "run 'up' again (it makes a new one)")
        ctx.seen["endpoint"] = endpoint

    def check(self, ctx: Context) -> list[Drift]:
        endpoint = retry(
            ctx, "reading the endpoint",
            lambda: self._describe(ctx) or ctx.unsee("endpoint") or not_visible("InvalidVpcEndpointId.NotFound"),
            retry_if=lambda exc: is_code(exc, "InvalidVpcEndpointId.NotFound"),
            waiting_for="the new endpoint to be visible", timeout=60,
        )
        if ctx.persist and str(endpoint.get("State", "")).lower() == "pending":  # `up` again after a timeout
            self._wait_available(ctx, endpoint)
            endpoint = ctx.seen["endpoint"]
        attached = set(endpoint.get("RouteTableIds", []))
        drifts = [Drift(table, f"route table {table} has no route to S3 through the endpoint")
                  for table in effective_tables(ctx) if table not in attached]
        if ctx.config.dualstack and endpoint_address_type(endpoint) != "dualstack":
            drifts.append(Drift(_ADDRESS_TYPE, f"its IpAddressType is {endpoint_address_type(endpoint)}, not "
                                "dualstack: its route tables have no route for S3's IPv6 prefix list"))
        if adoption(ctx).get("endpoint_id"):
            return drifts  # the user's endpoint: its policy is theirs (verify reads it); s3gw only adds tables
        if canonical(endpoint.get("PolicyDocument") or "{}") != canonical(wanted_policy(ctx)):
            drifts.append(Drift(_POLICY, f"the endpoint policy is not {_policy_words(ctx)}"))
        return drifts

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        tables = [d.key for d in drifts if d.key not in (_POLICY, _ADDRESS_TYPE)]
        if any(d.key == _ADDRESS_TYPE for d in drifts):
            if adoption(ctx).get("endpoint_id"):  # the user's endpoint: s3gw changes only the tables it adds
                raise UsageError(f"the VPC's S3 gateway endpoint {ctx.outputs['endpoint_id']} is not dualstack, and "
                                 "it is not s3gw's to change",
                                 f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {ctx.outputs['endpoint_id']} "
                                 "--ip-address-type dualstack, or use --ip-address-type ipv4")
            call("making the endpoint dualstack", ctx.aws.ec2.modify_vpc_endpoint, retry_not_found=ctx,
                 VpcEndpointId=ctx.outputs["endpoint_id"], IpAddressType="dualstack")
        if tables:
            if adoption(ctx).get("endpoint_id"):  # recorded first: a crash after the call still takes them back
                added = list(adoption(ctx).get("route_tables_added") or [])
                record_adoption(ctx, route_tables_added=added + [t for t in tables if t not in added])
            call("attaching route tables to the endpoint", ctx.aws.ec2.modify_vpc_endpoint, retry_not_found=ctx,
                 VpcEndpointId=ctx.outputs["endpoint_id"], AddRouteTableIds=tables)
        if any(d.key == _POLICY for d in drifts):
            call("limiting the endpoint policy to the stack's bucket", ctx.aws.ec2.modify_vpc_endpoint,
                 retry_not_found=ctx, VpcEndpointId=ctx.outputs["endpoint_id"],
                 PolicyDocument=json.dumps(wanted_policy(ctx)))
        ctx.unsee("endpoint")

    def delete(self, ctx: Context) -> bool:
        endpoint_id = ctx.outputs.get("endpoint_id")
        deleted = False
        if endpoint_id and adoption(ctx).get("endpoint_id") == endpoint_id:
            self._release(ctx, endpoint_id)
        elif endpoint_id:
            deleted = self._delete_endpoint(ctx, endpoint_id)
        ctx.forget("endpoint_id")
        ctx.forget("prefix_list_id")
        return deleted

    def _delete_endpoint(self, ctx: Context, endpoint_id: str) -> bool:
        """True when deleted now, False when it was already gone. DeleteVpcEndpoints answers 200 for an endpoint
        that no longer exists, with an Unsuccessful item coded InvalidVpcEndpoint.NotFound (not …Id.NotFound),
        which terraform-provider-aws's resourceVPCEndpointDelete takes as gone (internal/service/ec2/vpc_endpoint.go,
        errCodeInvalidVPCEndpointNotFound in errors.go); every *.NotFound, as an error or an item, is taken so."""
        try:
            answer = ctx.aws.ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
        except Exception as exc:
            if is_not_found(exc):
                return False
            # A re-sent delete (its first reply lost) may fail although the first one acted: judge by whether the
            # endpoint is still there, not by the error.
            if self._describe(ctx, fresh=True) is not None:
                raise translate(exc, f"deleting endpoint {endpoint_id}") from exc
            return True
        failed = [u.get("Error") or {} for u in answer.get("Unsuccessful") or []]
        if not failed:
            return True
        if all(str(error.get("Code", "")).endswith(".NotFound") for error in failed):
            return False
        error = next(e for e in failed if not str(e.get("Code", "")).endswith(".NotFound"))
        raise AwsError(f"deleting endpoint {endpoint_id}: {error.get('Code')}: {error.get('Message')}")

    def _adopt(self, ctx: Context) -> dict[str, Any] | None:
        """An available S3 gateway endpoint already in the user's VPC: used (its route tables added to), not
        duplicated; recorded as adopted, so `down` takes back only the tables s3gw added."""
        found = call("looking for an S3 gateway endpoint in the VPC", ctx.aws.ec2.describe_vpc_endpoints,
                     Filters=[{"Name": "vpc-id", "Values": [ctx.outputs["vpc_id"]]}])["VpcEndpoints"]
        usable = adoptable(found, ctx.config.region)
        if not usable:
            return None
        endpoint = usable[0]
        record_adoption(ctx, endpoint_id=endpoint["VpcEndpointId"],
                        route_tables_added=adoption(ctx).get("route_tables_added") or [])
        return dict(endpoint)

    def _release(self, ctx: Context, endpoint_id: str) -> None:
        """Take off the user's endpoint exactly the route tables s3gw added to it; the endpoint stays."""
        added = list(adoption(ctx).get("route_tables_added") or [])
        endpoint = self._describe(ctx)
        still = [t for t in added if endpoint and t in endpoint.get("RouteTableIds", [])]
        if still:
            call("taking s3gw's route tables off the adopted endpoint", ctx.aws.ec2.modify_vpc_endpoint,
                 already_done=("InvalidVpcEndpointId.NotFound",),  # the user deleted it meanwhile: nothing to take
                 VpcEndpointId=endpoint_id, RemoveRouteTableIds=still)
        record_adoption(ctx, endpoint_id=None, route_tables_added=None)
        ctx.forget("endpoint_id")
        ctx.forget("prefix_list_id")
