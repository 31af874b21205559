"""The Lambda function, in the private subnets behind the security group; and its lingering ENIs on delete."""

from __future__ import annotations

import time
from typing import Any

from s3gw.errors import AwsError, WaitTimeout, error_message, translate
from s3gw.package import HANDLER, build_zip, code_sha256
from s3gw.steps.base import (
    STACK_TAG,
    Context,
    Drift,
    Step,
    Waiting,
    call,
    is_code,
    not_visible,
    retry,
    start_wait,
)
from s3gw.words import plural

RUNTIME = "python3.12"
TIMEOUT_SECONDS = 5
MEMORY_MB = 1024
# What Lambda answers while a new role has not reached it yet (IAM is eventually consistent) or while EC2 is
# busy for it: every shape terraform-provider-aws's retryFunctionOp retries (internal/service/lambda/function.go):
# an InvalidParameterValueException containing one of these, and any ResourceConflictException.
_PROPAGATION_PHRASES = (
    "cannot be assumed by Lambda",  # "The role defined for the function cannot be assumed by Lambda."
    "The provided execution role does not have permissions",  # "… to call CreateNetworkInterface on EC2", or any
    "throttled by EC2",  # "Your request has been throttled by EC2, please make sure you have enough API rate limit…"
    "KMS key is invalid for CreateGrant",  # "Lambda was unable to configure access to your environment variables…"
)


def is_iam_propagation(exc: BaseException) -> bool:
    """Lambda's 'not yet' answers to CreateFunction / UpdateFunctionConfiguration (see _PROPAGATION_PHRASES)."""
    if is_code(exc, "ResourceConflictException"):
        return True
    return is_code(exc, "InvalidParameterValueException") and any(
        phrase in error_message(exc) for phrase in _PROPAGATION_PHRASES)


# Lambda runs in most zones of a region, not all; CreateFunction refuses subnets in the others, without saying
# which (the text as Lambda sends it).
_LAMBDA_ZONE_REFUSED = "availability zone Lambda doesn't support"


def subnet_zones(ctx: Context) -> list[str]:
    subnets = call("reading the subnets' zones", ctx.aws.ec2.describe_subnets,
                   SubnetIds=list(ctx.outputs.get("subnet_ids") or []))["Subnets"]
    return sorted({s["AvailabilityZone"] for s in subnets})


def wanted_configuration(ctx: Context) -> dict[str, Any]:
    variables = {"BUCKET_NAME": ctx.outputs["bucket"]}
    if ctx.config.table:  # the DynamoDB lane: the probe writes and reads one item when test-invoke asks
        variables["TABLE_NAME"] = ctx.outputs.get("table_name") or ctx.config.table
    vpc: dict[str, Any] = {"SubnetIds": list(ctx.outputs["subnet_ids"]),
                           "SecurityGroupIds": [ctx.outputs["security_group_id"]]}
    if ctx.config.dualstack:
        # "Allows outbound IPv6 traffic on VPC functions that are connected to dual-stack subnets" (botocore's Lambda
        # model, VpcConfig.Ipv6AllowedForDualStack); and the lister's S3 client takes S3's dual-stack endpoint
        # (s3.dualstack.<region>.amazonaws.com, which resolves to IPv6 and IPv4: S3 User Guide, "Using Amazon S3
        # dual-stack endpoints"), by the variable every AWS SDK reads (AWS SDKs and Tools Reference Guide,
        # "Dual-stack and FIPS endpoints": AWS_USE_DUALSTACK_ENDPOINT), so that the probe really takes IPv6.
        vpc["Ipv6AllowedForDualStack"] = True
        variables["AWS_USE_DUALSTACK_ENDPOINT"] = "true"
    else:  # said, not left out: an update that leaves it out keeps it (detach_from_vpc cites it)
        vpc["Ipv6AllowedForDualStack"] = False
    return {
        "Runtime": RUNTIME,
        "Handler": HANDLER,
        "Role": ctx.outputs["role_arn"],
        "Timeout": TIMEOUT_SECONDS,
        "MemorySize": MEMORY_MB,
        "Environment": {"Variables": variables},
        "VpcConfig": vpc,
    }


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    vpc = config.get("VpcConfig") or {}
    return {
        "Runtime": config.get("Runtime"),
        "Handler": config.get("Handler"),
        "Role": config.get("Role"),
        "Timeout": config.get("Timeout"),
        "MemorySize": config.get("MemorySize"),
        "Environment": (config.get("Environment") or {}).get("Variables") or {},
        "SubnetIds": sorted(vpc.get("SubnetIds") or []),
        "SecurityGroupIds": sorted(vpc.get("SecurityGroupIds") or []),
        "Ipv6AllowedForDualStack": bool(vpc.get("Ipv6AllowedForDualStack")),
    }


class FunctionStep(Step):
    """The stack's probe (the lister). A generalised step: the user's function (steps.app.AppFunctionStep) is the
    same but for its name, keys, code and configuration; each instance keeps its reads in ctx.seen by its name."""

    name = "function"
    title = "Lambda function"
    keys = ("function_name", "function_arn")
    code_source = "lambda_handler/handler.py"

    def function_name(self, ctx: Context) -> str:
        return ctx.config.function_name

    def code(self, ctx: Context) -> bytes:
        return build_zip()

    def wanted(self, ctx: Context) -> dict[str, Any]:
        return wanted_configuration(ctx)

    def description(self, ctx: Context) -> str:
        return f"s3gw {ctx.config.stack}: lists {ctx.outputs['bucket']} through the S3 gateway endpoint"

    def _get(self, ctx: Context, *, fresh: bool = False) -> dict[str, Any] | None:
        """The function, read once per run; dropped when this run changes it."""
        if fresh:
            ctx.unsee(self.name)
        return ctx.remember(self.name, lambda: self._read(ctx))  # type: ignore[no-any-return]

    def _read(self, ctx: Context) -> dict[str, Any] | None:
        name = ctx.outputs.get(self.keys[0]) or self.function_name(ctx)
        try:
            return dict(ctx.aws.lambda_.get_function(FunctionName=name))
        except Exception as exc:
            if is_code(exc, "ResourceNotFoundException"):
                return None
            raise

    def find(self, ctx: Context) -> dict[str, Any] | None:
        ctx.unsee(f"{self.name}_new")
        found = self._get(ctx, fresh=True)  # find starts a run's look: check reuses it
        if found is None:
            return None
        configuration = found["Configuration"]
        if (found.get("Tags") or {}).get(STACK_TAG) != ctx.config.stack:
            raise AwsError(f"Lambda function {configuration['FunctionName']} exists but is not this stack's",
                           "delete or rename it, or use another --stack")
        return {self.keys[0]: configuration["FunctionName"], self.keys[1]: configuration["FunctionArn"]}

    def create(self, ctx: Context) -> None:
        lam = ctx.aws.lambda_
        function_name = self.function_name(ctx)
        arguments = dict(
            FunctionName=function_name,
            Code={"ZipFile": self.code(ctx)},
            Description=self.description(ctx),
            Tags={STACK_TAG: ctx.config.stack},
            Publish=False,
            **self.wanted(ctx),
        )

        def create_once() -> dict[str, Any]:
            try:
                made = dict(lam.create_function(**arguments))
                ctx.seen[f"{self.name}_new"] = made["FunctionName"]
                return made
            except Exception as exc:
                if is_code(exc, "ResourceConflictException"):  # a create retried after a crash
                    return dict(lam.get_function(FunctionName=function_name)["Configuration"])
                raise

        try:
            created = self._create_retrying(ctx, create_once)
        except Exception as failure:
            exc = failure.__cause__ or failure
            if _LAMBDA_ZONE_REFUSED in error_message(exc):
                used = subnet_zones(ctx)
                others = sorted(set(ctx.zones or []) - set(used))
                raise AwsError(f"Lambda does not support one of the subnets' zones ({', '.join(used)})",
                               "take the stack down and bring it up with --zones naming zones Lambda supports"
                               + (f"; the region also has {', '.join(others)}" if others else "")) from None
            raise
        ctx.record(self.keys[0], created["FunctionName"])
        ctx.record(self.keys[1], created["FunctionArn"])
        ctx.unsee(self.name)  # find's "no such function" is out of date
        wait_active(ctx, name=created["FunctionName"])

    def _create_retrying(self, ctx: Context, create_once: Any) -> dict[str, Any]:
        return retry(
            ctx, "creating the Lambda function", create_once, retry_if=is_iam_propagation,
            waiting_for="the new IAM role to reach Lambda",
            # Tries every 0.5-2 s (the jitter halves at most), not backing off further: the role is made in the run's
            # first rounds, so by now most of its propagation has passed, and a doubling wait would overshoot the
            # moment it arrives by seconds. Over the 150 s bound that is about a hundred refused creates at most.
            timeout=ctx.iam_propagation_wait,
            first_delay=1.0, max_delay=2.0,
        )

    def check(self, ctx: Context) -> list[Drift]:
        name = ctx.outputs[self.keys[0]]
        if ctx.seen.get(f"{self.name}_new") == name:
            return []  # made now, with this code and configuration (CreateFunction), and waited Active
        found = self._get(ctx)
        if found is None:
            raise AwsError(f"function {name} vanished while checking it")
        configuration = found["Configuration"]
        if ctx.persist and configuration.get("State") == "Pending":
            # `up` re-run after a timeout: the function is still being made; wait, as after a create.
            wait_active(ctx, fail_ok=True, name=name)
            configuration = (self._get(ctx, fresh=True) or found)["Configuration"]
        if configuration.get("State") == "Failed":
            # A Failed function cannot be repaired by an update: it is deleted and made again.
            return [Drift("replace", f"the function is Failed "
                                     f"({configuration.get('StateReason') or 'no reason given'}): it is made again")]
        drifts = []
        deployed, wanted_code = configuration.get("CodeSha256"), code_sha256(self.code(ctx))
        if deployed != wanted_code:  # Lambda's CodeSha256 is the zip's (package.code_sha256): unchanged, no upload
            drifts.append(Drift("code", f"the deployed code differs from {self.code_source}: CodeSha256 {deployed} "
                                        f"-> {wanted_code}"))
        current, wanted = _comparable(configuration), _comparable(self.wanted(ctx))
        changed = [key for key in wanted if current[key] != wanted[key]]
        if changed:
            drifts.append(Drift("configuration", "configuration differs: " + ", ".join(changed)))
        return drifts

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        lam = ctx.aws.lambda_
        name = ctx.outputs[self.keys[0]]
        keys = {d.key for d in drifts}
        ctx.unsee(self.name, f"{self.name}_new")
        if "replace" in keys:
            call(f"deleting the Failed function {name}", lam.delete_function, FunctionName=name,
                 already_done=("ResourceNotFoundException",))
            retry(ctx, f"waiting for {name} to be deleted",
                  lambda: self._get(ctx, fresh=True) is None or not_visible("ResourceInUseException"),
                  retry_if=lambda exc: is_code(exc, "ResourceInUseException"),
                  waiting_for=f"the Failed function {name} to be gone", timeout=ctx.active_wait)
            self.create(ctx)
            return
        if "code" in keys:
            wait_updated(ctx, name=name)
            call("uploading the function's code", lam.update_function_code, FunctionName=name, ZipFile=self.code(ctx))
        if "configuration" in keys:
            wait_updated(ctx, name=name)
            retry(
                ctx, "updating the function's configuration",
                lambda: lam.update_function_configuration(FunctionName=name, **self.wanted(ctx)),
                retry_if=is_iam_propagation,
                waiting_for="the function to accept an update", timeout=ctx.iam_propagation_wait,
            )
        if keys:
            wait_updated(ctx, name=name)

    def detach(self, ctx: Context) -> None:
        """`down`, first: take the function out of the VPC, so that Lambda's ENIs are waited out while it is
        deleted. One that Lambda will not update yet (Pending) is deleted at once instead: its ENIs go only with it."""
        name = ctx.outputs.get(self.keys[0])
        if name:
            deleted = not detach_from_vpc(ctx, name) and self._delete_function(ctx, name)
            ctx.seen[f"{self.name}_detached"] = (name, deleted)

    def delete(self, ctx: Context) -> bool:
        name = ctx.outputs.get(self.keys[0])
        deleted = False
        if name:
            if ctx.seen.get(f"{self.name}_detached", ("", False))[0] != name:
                self.detach(ctx)
            # detach deleted it already (a Pending function), or it is deleted now
            deleted = ctx.seen[f"{self.name}_detached"][1] or self._delete_function(ctx, name)
        ctx.forget(self.keys[0])
        ctx.forget(self.keys[1])
        return deleted

    def _delete_function(self, ctx: Context, name: str) -> bool:
        """True when deleted now; False when Lambda says it is gone (ResourceNotFoundException)."""
        try:
            ctx.aws.lambda_.delete_function(FunctionName=name)
        except Exception as exc:
            if not is_code(exc, "ResourceNotFoundException"):
                raise translate(exc, f"deleting function {name}") from exc
            return False
        return True


def detach_from_vpc(ctx: Context, name: str) -> bool:
    """Take the function out of the VPC before deleting it, and wait for the update to finish.

    Lambda then stops using the stack's Hyperplane ENIs at once and starts releasing them, instead of after
    DeleteFunction has run its course. terraform-provider-aws does the same for
    replace_security_groups_on_destroy (PR #37624: "replaces the security groups assigned in the functions
    VPC configuration, waits for the configuration update to complete, and then deletes the function");
    an empty SubnetIds/SecurityGroupIds detaches the function from the VPC
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html, "Detaching a function").
    False when it is still in the VPC: Lambda refuses updates while it is being created (Pending).
    """
    lam = ctx.aws.lambda_
    seen = (ctx.seen.get("function") or {}).get("Configuration") or {}  # down's look read it just now
    if seen.get("FunctionName") == name:
        configuration = seen
    else:
        try:
            configuration = lam.get_function_configuration(FunctionName=name)
        except Exception as exc:
            if is_code(exc, "ResourceNotFoundException"):
                return True
            raise
    if not (configuration.get("VpcConfig") or {}).get("SubnetIds"):
        return True
    if configuration.get("State") == "Pending":
        # While a function is being created Lambda refuses UpdateFunctionConfiguration, but DeleteFunction is not
        # among the calls that fail then (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html:
        # Invoke, UpdateFunctionCode, UpdateFunctionConfiguration, PublishVersion): waiting out the creation
        # (minutes) to detach would delay `down` for nothing. Its ENIs are waited out after, as ever.
        ctx.progress(f"{name} is still being created (Pending): deleting it as it is")
        return False
    ctx.progress(f"taking {name} out of the VPC, so that Lambda starts releasing its network interfaces")
    # The configuration just read, and the update's reply, say whether an update is still under way: the state is
    # read again only while one is (no LastUpdateStatus: none ever ran).
    if (configuration.get("LastUpdateStatus") or "Successful") != "Successful":
        _wait_state(ctx, "Successful", "LastUpdateStatus", "waiting for the function's update to finish", name=name,
                    gone_ok=True)

    detached: dict[str, Any] = {"SubnetIds": [], "SecurityGroupIds": []}
    if (configuration.get("VpcConfig") or {}).get("Ipv6AllowedForDualStack"):
        # Lambda keeps the flag when left out, then refuses it without subnets: "Ipv6AllowedForDualStack cannot be
        # true without subnet or security groups" (aws-cloudformation/cloudformation-coverage-roadmap#2061).
        detached["Ipv6AllowedForDualStack"] = False

    def update() -> dict[str, Any] | None:
        try:
            return lam.update_function_configuration(  # type: ignore[no-any-return]
                FunctionName=name, VpcConfig=detached)
        except Exception as exc:
            if is_code(exc, "ResourceNotFoundException"):  # deleted meanwhile: nothing to detach
                return None
            raise

    answer = retry(ctx, "taking the function out of the VPC", update,
                   retry_if=lambda exc: is_code(exc, "ResourceConflictException"),
                   waiting_for="the function to accept an update", timeout=ctx.active_wait)
    if answer is not None and answer.get("LastUpdateStatus") != "Successful":
        _wait_state(ctx, "Successful", "LastUpdateStatus", "waiting for the function's update to finish", name=name,
                    gone_ok=True)
    return True


# botocore's Lambda waiters FunctionActiveV2 and FunctionUpdatedV2 poll every second (botocore/data/lambda/2015-03-31/
# waiters-2.json: "delay": 1, 300 attempts).
STATE_POLL = 1.0


def _wait_state(ctx: Context, ready: str, field: str, doing: str, name: str = "", fail_ok: bool = False,
                gone_ok: bool = False) -> None:
    """Poll until the function's `field` is `ready`; a Failed state is an error with Lambda's reason (or, with
    `fail_ok`, the end of the wait: the caller deals with it). With `gone_ok` (`down`), a function that is gone
    ends the wait; otherwise its NotFound is waited out as one not visible yet."""
    name = name or ctx.outputs["function_name"]
    started = time.monotonic()
    deadline = started + ctx.active_wait
    if ctx.wait_deadline is not None:  # `down --wait` bounds every wait of the run
        deadline = min(deadline, ctx.wait_deadline)
    wait = None
    try:
        while True:
            configuration = call(doing, ctx.aws.lambda_.get_function_configuration, FunctionName=name,
                                 retry_not_found=None if gone_ok else ctx,
                                 already_done=("ResourceNotFoundException",) if gone_ok else ())
            if configuration is None:  # gone (gone_ok): nothing left to wait for
                return
            status = configuration.get(field) or ready
            if status == ready:
                return
            if status == "Failed":
                if fail_ok:
                    return
                raise AwsError(f"function {name} failed: {configuration.get(field + 'Reason', '')}",
                               "check the subnets, security group and role, then run 'up' again")
            if time.monotonic() > deadline:
                raise WaitTimeout(f"function {name} still {status} after {time.monotonic() - started:.0f}s",
                                  "run 'up' again later")
            if wait is None:
                ctx.progress(f"waiting: function {name} is {status} (Lambda is creating its network interfaces)"
                             if field == "State" else f"waiting: the update of function {name} is {status}")
                wait = start_wait(ctx, f"waiting for function {name} to be {ready}" if field == "State"
                                  else f"waiting for the update of function {name} to finish")
            else:
                wait.tick(f"{field} {status}")
            ctx.sleep(STATE_POLL)
    finally:
        if wait is not None:
            wait.end()


def wait_active(ctx: Context, fail_ok: bool = False, name: str = "") -> None:
    _wait_state(ctx, "Active", "State", "waiting for the function to be Active", fail_ok=fail_ok, name=name)


def wait_updated(ctx: Context, name: str = "") -> None:
    _wait_state(ctx, "Successful", "LastUpdateStatus", "waiting for the function's update to finish", name=name)


# How Lambda describes its Hyperplane ENIs: `AWS Lambda VPC ENI-<function>`, naming the first function that used
# that subnet + security group, shared with every other function using the same pair. So the function's name
# proves nothing: the ENIs are matched as terraform-provider-aws matches them, by this prefix and the stack's
# security group (internal/service/ec2/vpc_network_interface.go, deleteLingeringLambdaENIs), and, here, the
# stack's VPC too.
LAMBDA_ENI_PREFIX = "AWS Lambda VPC ENI"
ENI_POLL_FIRST, ENI_POLL_MAX = 1.0, 15.0


def lambda_enis(ctx: Context) -> list[dict[str, Any]]:
    """Lambda's network interfaces in the stack's security group (and VPC): what blocks the group and subnets."""
    group_id = ctx.outputs.get("security_group_id")
    if not group_id:
        return []
    filters = [{"Name": "group-id", "Values": [group_id]},
               {"Name": "description", "Values": [LAMBDA_ENI_PREFIX + "*"]}]
    if ctx.outputs.get("vpc_id"):
        filters.append({"Name": "vpc-id", "Values": [ctx.outputs["vpc_id"]]})
    answer = call("listing Lambda's network interfaces", ctx.aws.ec2.describe_network_interfaces, Filters=filters)
    return [eni for eni in answer["NetworkInterfaces"] if eni.get("Description", "").startswith(LAMBDA_ENI_PREFIX)
            and group_id in [g.get("GroupId") for g in eni.get("Groups", [])]]


def wait_for_enis(ctx: Context) -> None:
    """Wait out Lambda's ENIs in the stack's security group, deleting those that turn `available`; bounded by
    ctx.delete_wait. AWS takes them from in-use to available in up to ~20 min (P99 ~35 min, quoted in the
    provider's deleteLingeringLambdaENIs, which waits 45); it deletes available ones itself only much later."""
    waiting = Waiting(ctx)
    delay = ENI_POLL_FIRST
    try:
        while True:
            enis = lambda_enis(ctx)
            deleted = _delete_enis(ctx, [e["NetworkInterfaceId"] for e in enis if e.get("Status") == "available"])
            in_use = [e["NetworkInterfaceId"] for e in enis if e["NetworkInterfaceId"] not in deleted]
            if not in_use:
                ctx.progress("Lambda ENIs: none left" if enis or waiting.shown else "no Lambda ENIs in use")
                return
            shown = ", ".join(in_use[:3]) + (" …" if len(in_use) > 3 else "")
            blocking = (f"{plural(len(in_use), 'Lambda ENI')} in use ({shown}), holding "
                        f"{ctx.outputs.get('security_group_id')} and the subnets")
            if waiting.expired():
                raise WaitTimeout(
                    f"{blocking}, after {waiting.bound_text}",
                    "AWS releases them within about 20-40 minutes; run 'down' again later (what is left is recorded)",
                )
            waiting.show(blocking)
            ctx.sleep(min(delay, waiting.remaining()))
            delay = min(delay * 2, ENI_POLL_MAX)
    finally:
        waiting.done()


def _delete_enis(ctx: Context, eni_ids: list[str]) -> set[str]:
    """Delete the available ENIs, up to --max-concurrency at once; the ids that are gone."""
    if len(eni_ids) < 2 or ctx.config.max_concurrency < 2:
        return {eni_id for eni_id in eni_ids if _delete_eni(ctx, eni_id)}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(ctx.config.max_concurrency, len(eni_ids))) as pool:
        done = list(pool.map(lambda eni_id: _delete_eni(ctx, eni_id), eni_ids))
    return {eni_id for eni_id, gone in zip(eni_ids, done, strict=True) if gone}


def _delete_eni(ctx: Context, eni_id: str) -> bool:
    """Delete an available ENI; False if AWS refuses it for now (Lambda took it back into use meanwhile)."""
    try:
        ctx.aws.ec2.delete_network_interface(NetworkInterfaceId=eni_id)
    except Exception as exc:
        if is_code(exc, "InvalidNetworkInterfaceID.NotFound"):
            return True
        if is_code(exc, "InvalidParameterValue"):
            return False
        raise AwsError(f"deleting ENI {eni_id}: {error_message(exc)}") from exc
    ctx.progress(f"deleted Lambda ENI {eni_id} (available)")
    return True
