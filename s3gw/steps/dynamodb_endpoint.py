"""The DynamoDB gateway endpoint (issue 22): on the same route tables as the S3 one, its policy scoped to the
function's item actions on the stack's table, in the stack's account. Only with --table."""

from __future__ import annotations

import json
import uuid
from typing import Any

from s3gw.errors import AwsError
from s3gw.policy.documents import canonical, table_endpoint_policy
from s3gw.steps.base import (
    Context,
    Drift,
    Step,
    call,
    create_once,
    describe_by_id,
    endpoint_only_services,
    is_not_found,
    retry,
)
from s3gw.steps.endpoint import gateway_service_name
from s3gw.steps.route_tables import effective_tables

_POLICY = "policy"
_GONE_STATES = ("deleted", "deleting", "rejected", "failed", "expired")


def dynamodb_service_name(ctx: Context) -> str:
    """The region's DynamoDB gateway service, as the region names it (describe_vpc_endpoint_services)."""
    return str(ctx.remember("dynamodb_service_name", lambda: gateway_service_name(
        ctx, "dynamodb", "choose another --region, or leave out --table")))


def dynamodb_prefix_list_id(ctx: Context) -> str:
    """The region's DynamoDB prefix list (com.amazonaws.<region>.dynamodb), read once per run."""
    def read() -> str:
        name = f"com.amazonaws.{ctx.config.region}.dynamodb"
        lists = call("looking up the DynamoDB prefix list", ctx.aws.ec2.describe_managed_prefix_lists,
                     Filters=[{"Name": "prefix-list-name", "Values": [name]}])["PrefixLists"]
        if not lists:
            raise AwsError(f"the region {ctx.config.region} has no managed prefix list {name}")
        return str(lists[0]["PrefixListId"])
    return str(ctx.remember("dynamodb_prefix_list", read))


def table_arn_of(ctx: Context) -> str:
    """The table's ARN: recorded by the table step, else as DynamoDB writes it (plan, before the table exists)."""
    return str(ctx.outputs.get("table_arn") or
               f"arn:{ctx.aws.partition}:dynamodb:{ctx.config.region}:{ctx.aws.account}:table/{ctx.config.table}")


def wanted_policy(ctx: Context) -> dict[str, Any]:
    if ctx.config.endpoint_only:  # `up --endpoint-only` (issue 24): AWS's default full access unless scoped
        from s3gw.policy.documents import DEFAULT_ENDPOINT_POLICY, account_endpoint_policy

        if ctx.config.endpoint_policy == "scoped":
            return account_endpoint_policy(ctx.aws.account, "dynamodb")
        return DEFAULT_ENDPOINT_POLICY
    return table_endpoint_policy(table_arn_of(ctx), ctx.aws.account)


class DynamoDbEndpointStep(Step):
    name = "dynamodb_endpoint"
    title = "DynamoDB gateway endpoint"
    keys = ("dynamodb_endpoint_id", "dynamodb_prefix_list_id")

    def active(self, ctx: Context) -> bool:
        if ctx.config.endpoint_only:  # `up --endpoint-only --services …,dynamodb` (issue 24)
            return "dynamodb" in endpoint_only_services(ctx)
        return bool(ctx.config.table) and super().active(ctx)

    def _describe(self, ctx: Context, *, fresh: bool = False) -> dict[str, Any] | None:
        if fresh:
            ctx.unsee(self.name)
        return ctx.remember(self.name, lambda: self._read(ctx))  # type: ignore[no-any-return]

    def _read(self, ctx: Context) -> dict[str, Any] | None:
        ec2 = ctx.aws.ec2
        endpoint_id = ctx.outputs.get("dynamodb_endpoint_id")
        if endpoint_id:
            found = describe_by_id(ec2.describe_vpc_endpoints, "VpcEndpoints",
                                   gone=("InvalidVpcEndpointId.NotFound",), VpcEndpointIds=[endpoint_id])
            live = [e for e in found if e.get("State", "").lower() not in _GONE_STATES]
            if live:
                return dict(live[0])
        vpc_id = ctx.outputs.get("vpc_id")
        if not vpc_id:
            return None
        found = call("looking up the DynamoDB endpoint", ec2.describe_vpc_endpoints,
                     Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, ctx.stack_filter()])["VpcEndpoints"]
        live = [e for e in found if e.get("State", "").lower() not in _GONE_STATES
                and str(e.get("ServiceName", "")).endswith(".dynamodb")]
        return dict(live[0]) if live else None

    def find(self, ctx: Context) -> dict[str, Any] | None:
        endpoint = self._describe(ctx, fresh=ctx.seen.get("vpc_new") != ctx.outputs.get("vpc_id"))
        if endpoint is None:
            return None
        return {"dynamodb_endpoint_id": endpoint["VpcEndpointId"],
                "dynamodb_prefix_list_id": dynamodb_prefix_list_id(ctx)}

    def create(self, ctx: Context) -> None:
        arguments = dict(
            VpcEndpointType="Gateway",
            VpcId=ctx.outputs["vpc_id"],
            ServiceName=dynamodb_service_name(ctx),
            RouteTableIds=list(ctx.outputs.get("route_table_ids") or []),
            PolicyDocument=json.dumps(wanted_policy(ctx)),
            TagSpecifications=ctx.tag_spec("vpc-endpoint", f"{ctx.config.stack}-dynamodb"),
            ClientToken=uuid.uuid4().hex,  # one per create, as for the S3 endpoint (steps.endpoint)
        )
        endpoint = create_once(
            ctx, "creating the DynamoDB gateway endpoint",
            lambda: ctx.aws.ec2_once.create_vpc_endpoint(**arguments)["VpcEndpoint"],
            lambda: self._describe(ctx, fresh=True),
        )
        ctx.record("dynamodb_endpoint_id", endpoint["VpcEndpointId"])
        ctx.seen[self.name] = endpoint
        ctx.record("dynamodb_prefix_list_id", dynamodb_prefix_list_id(ctx))

    def check(self, ctx: Context) -> list[Drift]:
        endpoint = retry(
            ctx, "reading the DynamoDB endpoint",
            lambda: self._describe(ctx) or ctx.unsee(self.name) or _not_visible(),
            retry_if=is_not_found, waiting_for="the new DynamoDB endpoint to be visible", timeout=60,
        )
        attached = set(endpoint.get("RouteTableIds", []))
        drifts = [Drift(table, f"route table {table} has no route to DynamoDB through the endpoint")
                  for table in effective_tables(ctx) if table not in attached]
        if canonical(endpoint.get("PolicyDocument") or "{}") != canonical(wanted_policy(ctx)):
            drifts.append(Drift(_POLICY, "the DynamoDB endpoint policy is not limited to the stack's table and "
                                         "account"))
        return drifts

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        endpoint_id = ctx.outputs["dynamodb_endpoint_id"]
        tables = [d.key for d in drifts if d.key != _POLICY]
        if tables:
            call("attaching route tables to the DynamoDB endpoint", ctx.aws.ec2.modify_vpc_endpoint,
                 retry_not_found=ctx, VpcEndpointId=endpoint_id, AddRouteTableIds=tables)
        if any(d.key == _POLICY for d in drifts):
            call("limiting the DynamoDB endpoint policy to the stack's table", ctx.aws.ec2.modify_vpc_endpoint,
                 retry_not_found=ctx, VpcEndpointId=endpoint_id, PolicyDocument=json.dumps(wanted_policy(ctx)))
        ctx.unsee(self.name)

    def delete(self, ctx: Context) -> bool:
        endpoint_id = ctx.outputs.get("dynamodb_endpoint_id")
        deleted = False
        if endpoint_id:
            try:
                answer = ctx.aws.ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
            except Exception as exc:
                if not is_not_found(exc):
                    raise
            else:
                # An endpoint already gone comes back as an Unsuccessful item coded *.NotFound (steps.endpoint).
                failed = [u.get("Error") or {} for u in answer.get("Unsuccessful") or []]
                errors = [e for e in failed if not str(e.get("Code", "")).endswith(".NotFound")]
                if errors:
                    raise AwsError(f"deleting endpoint {endpoint_id}: {errors[0].get('Code')}: "
                                   f"{errors[0].get('Message')}")
                deleted = not failed
        ctx.forget("dynamodb_endpoint_id")
        ctx.forget("dynamodb_prefix_list_id")
        return deleted


def _not_visible() -> Any:
    from s3gw.steps.base import not_visible

    return not_visible("InvalidVpcEndpointId.NotFound")
