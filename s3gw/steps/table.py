"""The DynamoDB table (issue 22): a lane of its own, joined by the seal (its resource-based policy names the DynamoDB
endpoint) and the function (TABLE_NAME, the role's item actions).

A new table is on-demand, with a string partition key (--table-key, default pk), SSE on, tagged s3gw:stack, and
deletion protection off so that `down` can delete it. An adopted table (--table NAME --adopt) is never deleted and
its items never touched: s3gw adds its seal's statements to the table's policy under fixed Sids, and `down` puts the
policy back exactly as it was (none, when it had none).

PutResourcePolicy takes ExpectedRevisionId (DynamoDB API Reference, PutResourcePolicy: the revision of the policy the
write replaces, "NO_POLICY" when none may exist), so the merge on an adopted table is a conditional write: another
writer's change in between makes it fail (PolicyNotFoundException), never lost. "Subsequent updates to a policy for a
given resource are blocked for 15 seconds after a successful update" (DynamoDB Developer Guide, "DynamoDB
resource-based policy considerations"): a write refused so is retried for up to a minute.
"""

from __future__ import annotations

import json
from typing import Any

from s3gw.errors import AwsError, UsageError, translate
from s3gw.policy.documents import (
    OWN_SID_PREFIX,
    TABLE_POLICY_SIZE_LIMIT,
    canonical,
    merge_seal,
    own_part,
    own_statements,
    statements_of,
    strip_seal,
    table_policy,
)
from s3gw.steps.base import STACK_TAG, Context, Drift, Step, adoption, call, is_code, record_adoption, retry, tag_dict

DEFAULT_KEY = "pk"
_POLICY = "policy"
_BUSY = ("ResourceInUseException", "LimitExceededException")  # a policy updated less than 15 s ago; table updating
_NO_POLICY = ("PolicyNotFoundException",)


def table_name(ctx: Context) -> str:
    return str(ctx.config.table)


def table_adopted(ctx: Context) -> bool:
    return bool(ctx.config.table_adopt)


def table_seal(ctx: Context, table_arn: str, endpoint_id: str | None = None) -> dict[str, Any]:
    return table_policy(table_arn, endpoint_id or ctx.outputs.get("dynamodb_endpoint_id") or "vpce-to-be-made",
                        ctx.config.allow_principals)


def read_policy(ctx: Context, table_arn: str) -> tuple[str | None, str | None]:
    """The table's resource-based policy text and its revision id; (None, None) when it has none."""
    try:
        answer = ctx.aws.dynamodb.get_resource_policy(ResourceArn=table_arn)
    except Exception as exc:
        if is_code(exc, *_NO_POLICY):
            return None, None
        raise translate(exc, f"reading the resource policy of table {table_arn.rsplit('/', 1)[-1]}") from exc
    return str(answer.get("Policy") or "") or None, answer.get("RevisionId")


def wanted_document(ctx: Context, table_arn: str, current: str | None) -> dict[str, Any]:
    """The seal (a table of the stack's), or the seal merged into the user's policy (an adopted table)."""
    seal = table_seal(ctx, table_arn)
    return merge_seal(current, seal) if table_adopted(ctx) else seal


class TableStep(Step):
    name = "table"
    title = "DynamoDB table"
    keys = ("table_name", "table_arn")

    def active(self, ctx: Context) -> bool:
        return bool(ctx.config.table) and super().active(ctx)

    def _describe(self, ctx: Context, *, fresh: bool = False) -> dict[str, Any] | None:
        if fresh:
            ctx.unsee(self.name)
        return ctx.remember(self.name, lambda: self._read(ctx))  # type: ignore[no-any-return]

    def _read(self, ctx: Context) -> dict[str, Any] | None:
        name = ctx.outputs.get("table_name") or table_name(ctx)
        try:
            table = dict(ctx.aws.dynamodb.describe_table(TableName=name)["Table"])
        except Exception as exc:
            if is_code(exc, "ResourceNotFoundException"):
                return None
            raise translate(exc, f"reading table {name}") from exc
        if str(table.get("TableStatus", "")).upper() == "DELETING":
            return None
        return table

    def _tags(self, ctx: Context, table_arn: str) -> dict[str, str]:
        answer = call("reading the table's tags", ctx.aws.dynamodb.list_tags_of_resource, ResourceArn=table_arn)
        return tag_dict(answer.get("Tags"))

    def find(self, ctx: Context) -> dict[str, Any] | None:
        table = self._describe(ctx)
        if table is None:
            if table_adopted(ctx):
                raise UsageError(f"table {table_name(ctx)} does not exist: --adopt uses an existing table",
                                 "create it first, or leave out --adopt to let s3gw make (and own) it")
            return None
        arn = str(table["TableArn"])
        if not table_adopted(ctx) and not ctx.outputs.get("table_arn") and \
                self._tags(ctx, arn).get(STACK_TAG) != ctx.config.stack:
            raise AwsError(f"table {table_name(ctx)} exists and is not this stack's",
                           "choose another --table, or --table NAME --adopt to seal it as it is")
        return {"table_name": table["TableName"], "table_arn": arn}

    def create(self, ctx: Context) -> None:
        name, key = table_name(ctx), ctx.config.table_key or DEFAULT_KEY

        def create() -> dict[str, Any]:
            return dict(ctx.aws.dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                SSESpecification={"Enabled": True},
                DeletionProtectionEnabled=False,
                Tags=ctx.tags(name),
            )["TableDescription"])

        try:  # CreateTable has no client token: a re-sent one answers ResourceInUseException for the first's table
            table = create()
        except Exception as exc:
            if not is_code(exc, "ResourceInUseException") or (table := self._describe(ctx, fresh=True)) is None:
                raise translate(exc, f"creating table {name}") from exc
            if self._tags(ctx, str(table["TableArn"])).get(STACK_TAG) != ctx.config.stack:
                raise AwsError(f"table {name} exists and is not this stack's", "choose another --table") from exc
        ctx.record("table_name", table["TableName"])
        ctx.record("table_arn", table["TableArn"])
        ctx.seen[self.name] = table
        self._wait_active(ctx)

    def _wait_active(self, ctx: Context) -> None:
        def active() -> None:
            table = self._describe(ctx, fresh=True)
            if table is None or str(table.get("TableStatus", "")).upper() != "ACTIVE":
                from s3gw.steps.base import not_visible
                not_visible("ResourceNotFoundException")
        retry(ctx, f"creating table {table_name(ctx)}", active, retry_if=lambda exc: is_code(
            exc, "ResourceNotFoundException"), waiting_for="the table to be ACTIVE", timeout=300)

    def check(self, ctx: Context) -> list[Drift]:
        table = self._describe(ctx) or {}
        arn = str(ctx.outputs["table_arn"])
        drifts: list[Drift] = []
        if not table_adopted(ctx):
            if str((table.get("SSEDescription") or {}).get("Status", "")).upper() not in ("ENABLED", "ENABLING"):
                drifts.append(Drift("sse", "server-side encryption is not on"))
            if table.get("DeletionProtectionEnabled"):
                drifts.append(Drift("protection", "deletion protection is on: `down` could not delete the table"))
        current, _ = read_policy(ctx, arn)
        wanted = wanted_document(ctx, arn, current)
        if table_adopted(ctx):
            differs = canonical({"Statement": own_part(current)}) != canonical({"Statement": own_statements(
                table_seal(ctx, arn))})
        else:
            differs = current is None or canonical(current) != canonical(wanted)
        if differs:
            drifts.append(Drift(_POLICY, "the table's policy does not seal it to the DynamoDB endpoint"))
        size = len(json.dumps(wanted).encode())  # the very text _put_seal sends: DynamoDB counts its whitespace
        if size > TABLE_POLICY_SIZE_LIMIT:
            drifts.append(Drift("conflict", f"the table's policy with s3gw's statements is {size} bytes, over "
                                            f"DynamoDB's {TABLE_POLICY_SIZE_LIMIT}-byte limit"))
        return drifts

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        conflicts = [d.detail for d in drifts if d.key == "conflict"]
        if conflicts:
            raise AwsError(f"not sealing table {table_name(ctx)}: " + "; ".join(conflicts),
                           "shorten the table's policy, then run 'up' again")
        keys = {d.key for d in drifts}
        dynamodb, name, arn = ctx.aws.dynamodb, table_name(ctx), str(ctx.outputs["table_arn"])
        if "sse" in keys:
            call("turning on the table's encryption", dynamodb.update_table, TableName=name,
                 SSESpecification={"Enabled": True})
        if "protection" in keys:
            call("turning off the table's deletion protection", dynamodb.update_table, TableName=name,
                 DeletionProtectionEnabled=False)
        if _POLICY in keys:
            self._put_seal(ctx, arn)
        ctx.unsee(self.name)

    def _put_seal(self, ctx: Context, arn: str) -> None:
        def put() -> None:
            current, revision = read_policy(ctx, arn)
            if table_adopted(ctx) and "table_policy_before" not in adoption(ctx):  # before the put: `down` restores
                record_adoption(ctx, table_policy_before=current or "")
            ctx.aws.dynamodb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(wanted_document(ctx, arn, current)),
                                                 ExpectedRevisionId=revision or "NO_POLICY")
        retry(ctx, f"sealing table {table_name(ctx)} to the DynamoDB endpoint", put,
              retry_if=lambda exc: is_code(exc, *_BUSY), waiting_for="DynamoDB to take a policy update", timeout=60)

    def delete(self, ctx: Context) -> bool:
        name, arn = ctx.outputs.get("table_name"), ctx.outputs.get("table_arn")
        deleted = False
        if name and arn and table_adopted(ctx):
            self._release(ctx, str(arn))
        elif name:
            try:
                ctx.aws.dynamodb.delete_table(TableName=name)
                deleted = True
            except Exception as exc:
                if not is_code(exc, "ResourceNotFoundException"):
                    raise translate(exc, f"deleting table {name}") from exc
        ctx.forget("table_name")
        ctx.forget("table_arn")
        return deleted

    def _release(self, ctx: Context, arn: str) -> None:
        """Take s3gw's statements out of the adopted table's policy; the text it had before when nobody changed the
        rest meanwhile; no statement left, no policy. The table and its items are never touched."""
        before = adoption(ctx).get("table_policy_before")

        def put_back() -> None:
            current, revision = read_policy(ctx, arn)
            if not any(str(s.get("Sid", "")).startswith(OWN_SID_PREFIX) for s in statements_of(current)):
                return
            rest = strip_seal(current)
            if rest is None:
                ctx.aws.dynamodb.delete_resource_policy(ResourceArn=arn, ExpectedRevisionId=revision)
            else:
                text = before if before and statements_of(before) == statements_of(rest) else json.dumps(rest)
                ctx.aws.dynamodb.put_resource_policy(ResourceArn=arn, Policy=text, ExpectedRevisionId=revision)

        try:
            retry(ctx, f"taking s3gw's statements out of the policy of table {table_name(ctx)}", put_back,
                  retry_if=lambda exc: is_code(exc, *_BUSY), waiting_for="DynamoDB to take a policy update",
                  timeout=60)
        except AwsError as exc:
            if "ResourceNotFoundException" not in str(exc):
                raise
        if before is not None:
            record_adoption(ctx, table_policy_before=None)
