"""The Lambda function, in the private subnets behind the security group; and its lingering ENIs on delete."""

from __future__ import annotations

import time
from typing import Any

from s3gw.errors import AwsError, WaitTimeout, error_message
from s3gw.package import HANDLER, build_zip, code_sha256
from s3gw.steps.base import STACK_TAG, Context, Drift, Step, call, is_code, retry

RUNTIME = "python3.12"
TIMEOUT_SECONDS = 5
MEMORY_MB = 1024
# What CreateFunction says while a new role has not reached Lambda yet (IAM is eventually consistent).
_PROPAGATION_PHRASES = ("cannot be assumed by Lambda", "CreateNetworkInterface", "role defined for the function")


def is_iam_propagation(exc: BaseException) -> bool:
    return is_code(exc, "InvalidParameterValueException") and any(
        phrase in error_message(exc) for phrase in _PROPAGATION_PHRASES)


def wanted_configuration(ctx: Context) -> dict[str, Any]:
    return {
        "Runtime": RUNTIME,
        "Handler": HANDLER,
        "Role": ctx.outputs["role_arn"],
        "Timeout": TIMEOUT_SECONDS,
        "MemorySize": MEMORY_MB,
        "Environment": {"Variables": {"BUCKET_NAME": ctx.outputs["bucket"]}},
        "VpcConfig": {"SubnetIds": list(ctx.outputs["subnet_ids"]),
                      "SecurityGroupIds": [ctx.outputs["security_group_id"]]},
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
    }


class FunctionStep(Step):
    name = "function"
    title = "Lambda function"
    keys = ("function_name", "function_arn")

    def _get(self, ctx: Context) -> dict[str, Any] | None:
        name = ctx.outputs.get("function_name") or ctx.config.function_name
        try:
            return dict(ctx.aws.lambda_.get_function(FunctionName=name))
        except Exception as exc:
            if is_code(exc, "ResourceNotFoundException"):
                return None
            raise

    def find(self, ctx: Context) -> dict[str, Any] | None:
        found = self._get(ctx)
        if found is None:
            return None
        configuration = found["Configuration"]
        if (found.get("Tags") or {}).get(STACK_TAG) != ctx.config.stack:
            raise AwsError(f"Lambda function {configuration['FunctionName']} exists but is not this stack's",
                           "delete or rename it, or use another --stack")
        return {"function_name": configuration["FunctionName"], "function_arn": configuration["FunctionArn"]}

    def create(self, ctx: Context) -> None:
        lam = ctx.aws.lambda_
        code = build_zip()
        arguments = dict(
            FunctionName=ctx.config.function_name,
            Code={"ZipFile": code},
            Description=f"s3gw {ctx.config.stack}: lists {ctx.outputs['bucket']} through the S3 gateway endpoint",
            Tags={STACK_TAG: ctx.config.stack},
            Publish=False,
            **wanted_configuration(ctx),
        )

        def create_once() -> dict[str, Any]:
            try:
                return dict(lam.create_function(**arguments))
            except Exception as exc:
                if is_code(exc, "ResourceConflictException"):  # a create retried after a crash
                    return dict(lam.get_function(FunctionName=ctx.config.function_name)["Configuration"])
                raise

        created = retry(
            ctx, "creating the Lambda function", create_once, retry_if=is_iam_propagation,
            waiting_for="the new IAM role to reach Lambda", timeout=ctx.iam_propagation_wait,
            first_delay=2.0, max_delay=10.0,
        )
        ctx.record("function_name", created["FunctionName"])
        ctx.record("function_arn", created["FunctionArn"])
        wait_active(ctx)

    def check(self, ctx: Context) -> list[Drift]:
        found = self._get(ctx)
        if found is None:
            raise AwsError(f"function {ctx.outputs['function_name']} vanished while checking it")
        configuration = found["Configuration"]
        drifts = []
        if configuration.get("CodeSha256") != code_sha256(build_zip()):
            drifts.append(Drift("code", "the deployed code differs from s3gw/function_code/handler.py"))
        current, wanted = _comparable(configuration), _comparable(wanted_configuration(ctx))
        changed = [key for key in wanted if current[key] != wanted[key]]
        if changed:
            drifts.append(Drift("configuration", "configuration differs: " + ", ".join(changed)))
        if configuration.get("State") == "Failed":
            drifts.append(Drift("configuration",
                                f"the function is Failed: {configuration.get('StateReason', 'no reason given')}"))
        return drifts

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        lam = ctx.aws.lambda_
        name = ctx.outputs["function_name"]
        keys = {d.key for d in drifts}
        if "code" in keys:
            wait_updated(ctx)
            call("uploading the function's code", lam.update_function_code, FunctionName=name, ZipFile=build_zip())
        if "configuration" in keys:
            wait_updated(ctx)
            retry(
                ctx, "updating the function's configuration",
                lambda: lam.update_function_configuration(FunctionName=name, **wanted_configuration(ctx)),
                retry_if=lambda exc: is_iam_propagation(exc) or is_code(exc, "ResourceConflictException"),
                waiting_for="the function to accept an update", timeout=ctx.iam_propagation_wait,
            )
        if keys:
            wait_updated(ctx)

    def delete(self, ctx: Context) -> None:
        name = ctx.outputs.get("function_name")
        if name:
            try:
                ctx.aws.lambda_.delete_function(FunctionName=name)
            except Exception as exc:
                if not is_code(exc, "ResourceNotFoundException"):
                    raise
            ctx.record("eni_function", name)  # remembered until its ENIs are gone
        ctx.forget("function_name")
        ctx.forget("function_arn")


def _wait_state(ctx: Context, ready: str, field: str, doing: str) -> None:
    """Poll until the function's `field` is `ready`; a Failed state is an error with Lambda's reason."""
    name = ctx.outputs["function_name"]
    deadline = time.monotonic() + ctx.active_wait
    said = False
    while True:
        configuration = call(doing, ctx.aws.lambda_.get_function_configuration, FunctionName=name,
                             retry_not_found=ctx)
        status = configuration.get(field) or ready
        if status == ready:
            return
        if status == "Failed":
            raise AwsError(f"function {name} failed: {configuration.get(field + 'Reason', '')}",
                           "check the subnets, security group and role, then run 'up' again")
        if time.monotonic() > deadline:
            raise WaitTimeout(f"function {name} still {status} after {ctx.active_wait:.0f}s",
                              "run 'up' again later")
        if not said:
            ctx.progress(f"waiting: function {name} is {status} (Lambda is creating its network interfaces)")
            said = True
        ctx.sleep(2.0)


def wait_active(ctx: Context) -> None:
    _wait_state(ctx, "Active", "State", "waiting for the function to be Active")


def wait_updated(ctx: Context) -> None:
    _wait_state(ctx, "Successful", "LastUpdateStatus", "waiting for the function's update to finish")


def lambda_enis(ctx: Context, function_name: str) -> list[dict[str, Any]]:
    """The network interfaces Lambda made for this function (they outlive it by minutes)."""
    answer = call(
        "listing the function's network interfaces",
        ctx.aws.ec2.describe_network_interfaces,
        Filters=[{"Name": "description", "Values": [f"AWS Lambda VPC ENI-{function_name}-*"]}],
    )
    return list(answer["NetworkInterfaces"])


def wait_for_enis(ctx: Context) -> None:
    """Wait out Lambda's ENIs after DeleteFunction, deleting those that turn `available`; bounded."""
    name = ctx.outputs.get("eni_function")
    if not name:
        return
    deadline = time.monotonic() + ctx.delete_wait
    last_said = 0.0
    while True:
        enis = lambda_enis(ctx, name)
        for eni in enis:
            if eni.get("Status") == "available":
                try:
                    ctx.aws.ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
                except Exception as exc:
                    if not is_code(exc, "InvalidNetworkInterfaceID.NotFound", "InvalidParameterValue"):
                        raise AwsError(f"deleting ENI {eni['NetworkInterfaceId']}: {error_message(exc)}") from exc
        in_use = [e for e in enis if e.get("Status") != "available"]
        if not enis:
            ctx.forget("eni_function")
            return
        now = time.monotonic()
        if now > deadline:
            raise WaitTimeout(
                f"{len(in_use)} Lambda network interface(s) of {name} still in use after {ctx.delete_wait:.0f}s",
                "AWS releases them within about 20-40 minutes; run 'down' again later (what is left is recorded)",
            )
        if now - last_said >= 30:
            ids = ", ".join(e["NetworkInterfaceId"] for e in enis[:3]) + (" …" if len(enis) > 3 else "")
            ctx.progress(f"waiting: {len(enis)} Lambda ENI(s) of {name} to be released ({ids}), "
                         f"up to {deadline - now:.0f}s more")
            last_said = now
        ctx.sleep(5.0 if in_use else 1.0)
