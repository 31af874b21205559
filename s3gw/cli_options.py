"""Click's side of the command line: the options of each command, the global options taken before or after
the command, Click's own usage errors as s3gw's one line, and shell completion. Parsing only: no command runs here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import click

from s3gw.config import DEFAULT_MAX_CONCURRENCY, EGRESS_CHOICES, IP_ADDRESS_TYPES, OUTPUT_CHOICES
from s3gw.errors import UsageError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# The options every command takes. They are accepted before the command too (`s3gw --region eu-west-1 status`,
# as the AWS CLI and SAM take them); given in both places, the one after the command wins.
GLOBAL_KEYS = ("stack", "region", "profile", "endpoint_url", "state_dir", "state_url", "output", "verbose",
               "no_color", "max_concurrency")


def _complete_stacks(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """The stacks whose state files are in the state directory (--state-dir typed so far, S3GW_STATE_DIR, .s3gw)."""
    from pathlib import Path

    from click.core import ParameterSource

    from s3gw.config import validate_stack

    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)  # not the default: typed before the command?
    state_dir = next((c.params["state_dir"] for c in _contexts(ctx)
                      if c.params.get("state_dir") and c.get_parameter_source("state_dir") in given), None)
    folder = Path(state_dir or os.environ.get("S3GW_STATE_DIR") or ".s3gw")
    try:
        files = [p.name for p in folder.iterdir() if p.suffix == ".json" and p.is_file()]
    except OSError:  # no such directory, not readable: nothing to offer
        return []
    names = []
    for name in sorted(files):
        try:  # `<stack>.json` only: not a temporary `.s3gw.json.XXXX` or a file of another tool
            names.append(validate_stack(name[:-len(".json")]))
        except UsageError:
            continue
    return [name for name in names if name.startswith(incomplete)]


def complete_output_keys(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from s3gw.commands.reports import OUTPUT_KEYS

    return [key for key in OUTPUT_KEYS if key.startswith(incomplete)]


def _contexts(ctx: click.Context | None) -> list[click.Context]:
    """This context and its parents: an option typed before the command is in the group's."""
    found = []
    while ctx is not None:
        found.append(ctx)
        ctx = ctx.parent
    return found


def global_options(*, for_group: bool) -> list[Callable[[Any], Any]]:
    """On the group, no default and no environment: a value there means the user typed it."""

    def option(*names: str, envvar: str | list[str] | None = None, default: Any = None, **kwargs: Any) -> Any:
        if for_group:
            return click.option(*names, **kwargs)
        return click.option(*names, envvar=envvar, default=default, show_default=default is not None, **kwargs)

    return [
        option("--stack", envvar="S3GW_STACK", default="s3gw", help="Stack name.", shell_complete=_complete_stacks),
        option("--region", envvar=["AWS_REGION", "AWS_DEFAULT_REGION"], help="AWS region."),
        option("--profile", envvar="AWS_PROFILE", help="AWS profile."),
        option("--endpoint-url", envvar="AWS_ENDPOINT_URL", help="AWS endpoint (the sandbox's)."),
        option("--state-dir", envvar="S3GW_STATE_DIR", default=".s3gw", help="Where <stack>.json is kept."),
        option("--state", "state_url", envvar="S3GW_STATE", metavar="s3://BUCKET/PREFIX",
               help="Keep the state and lock in S3 instead, shared by every machine."),
        option("--output", "output", envvar="S3GW_OUTPUT", type=click.Choice(OUTPUT_CHOICES),
               default=None if for_group else "text", help="Result format on stdout."),
        option("--max-concurrency", envvar="S3GW_MAX_CONCURRENCY", type=int,
               default=None if for_group else DEFAULT_MAX_CONCURRENCY, metavar="N",
               help="Steps run at once, each one request at a time (1: one after another)."),
        click.option("-v", "--verbose", is_flag=True, help="Tracebacks and more detail."),
        click.option("--no-color", is_flag=True, help="No colour (also when NO_COLOR is set or not a terminal)."),
    ]


def shared_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command takes, each also read from the environment."""
    for option in reversed(global_options(for_group=False)):
        fn = option(fn)
    return fn


def with_global_options(options: dict[str, Any]) -> dict[str, Any]:
    """Fill each option not typed after the command from the same option typed before it."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    before = ctx.find_root().params
    for key in GLOBAL_KEYS:
        typed_after = ctx.get_parameter_source(key) == ParameterSource.COMMANDLINE
        if key in options and not typed_after and before.get(key) not in (None, False):
            options[key] = before[key]
    return options


def from_environment(error: UsageError) -> UsageError:
    """Name the environment variable a bad value came from (`invalid stack name 'X Y' (from S3GW_STACK)`): the
    message names the option or quotes the value, and the user may never have typed it."""
    ctx = click.get_current_context()
    for param in ctx.command.params:
        variable = _environment_variable(ctx, param)
        value = ctx.params.get(param.name or "")
        if not variable or value in (None, ""):
            continue
        long_names = [opt for opt in param.opts if opt.startswith("--")]
        named = any(re.search(re.escape(opt) + r"(?![\w-])", error.message) for opt in long_names)
        # the value quoted in a message about this option ("invalid stack name 'X'"), not a look-alike value of
        # another (`--bucket ab` with S3GW_STACK=ab)
        about = (param.name or "").replace("_", " ") in error.message.lower()
        if named or (about and repr(value) in error.message):
            error.message = f"{error.message} (from {variable})"
            break
    return error


def _environment_variable(ctx: click.Context, param: click.Parameter) -> str | None:
    """The variable this parameter's value was read from, or None when it was typed or defaulted."""
    from click.core import ParameterSource

    if ctx.get_parameter_source(param.name or "") != ParameterSource.ENVIRONMENT:
        return None
    names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or [])
    return next((name for name in names if os.environ.get(name)), names[0] if names else None)


class Group(click.Group):
    """Click's own usage errors (a typo'd command, a bad --output) as s3gw says its errors: one line on stderr,
    `error: what — see 's3gw COMMAND --help'`, naming the environment variable a bad value came from."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:
            raise _one_line(exc) from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            raise _one_line(exc) from exc


class _OneLine(click.ClickException):
    """A Click error already put as s3gw's one line; Click shows it with show() and exits with its code."""

    def __init__(self, line: str, exit_code: int) -> None:
        super().__init__(line)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        from s3gw.render import Renderer

        Renderer().error(self.message)


def _one_line(exc: click.ClickException) -> click.ClickException:
    if isinstance(exc, _OneLine) or type(exc).__name__ == "NoArgsIsHelpError":  # `s3gw` alone: the help
        return exc
    ctx: click.Context | None = getattr(exc, "ctx", None)
    param: click.Parameter | None = getattr(exc, "param", None)
    if isinstance(exc, click.BadParameter) and ctx is not None and param is not None and exc.param_hint is None:
        variable = _environment_variable(ctx, param)
        option = max(param.opts, key=len) if isinstance(param, click.Option) else param.human_readable_name
        where = f"{variable} (the environment variable of {option})" if variable else option
        message = f"invalid value for {where}: {exc.message}"
    else:
        message = exc.format_message().replace(". (Did you mean", " (did you mean")
        message = message.replace(". Did you mean", "; did you mean")
        if message[:2].istitle():  # "No such command" → "no such command", as s3gw's own lines start
            message = message[0].lower() + message[1:]
    message = message.rstrip(".")
    hint = f" — see '{ctx.command_path} --help'" if ctx is not None else ""
    return _OneLine(message + hint, exc.exit_code)


def stack_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """What `up` builds; `plan` takes the same. Left out, they come from the state file, else defaults."""
    options = [
        click.option("--vpc-cidr", help="VPC block, /16 to /24 (default 10.0.0.0/16)."),
        click.option("--azs", type=int,
                     help="Availability zones, one private subnet each (default 3, or all the region has if fewer)."),
        click.option("--zones", help="Name the zones, e.g. a,b or eu-west-1a,eu-west-1b (default: the first --azs "
                                     "that accept a subnet)."),
        click.option("--bucket", help="Bucket name (default <stack>-<account>-<region>)."),
        click.option("--adopt", is_flag=True, default=None,
                     help="Use the existing --bucket (or --table): merge the seal into its policy; down restores "
                          "it, keeps data."),
        click.option("--vpc-id", help="Use this existing VPC (s3gw makes only what is missing; down keeps it)."),
        click.option("--subnet-ids", metavar="SUBNET,...",
                     help="With --vpc-id: the subnets (default: those with no route to an internet gateway)."),
        click.option("--egress", type=click.Choice(EGRESS_CHOICES),
                     help="SG egress on 443: to the S3 prefix list (default) or 0.0.0.0/0."),
        click.option("--ip-address-type", type=click.Choice(IP_ADDRESS_TYPES),
                     help="ipv4 (default) or dualstack: the path to S3 over IPv6 too (an Amazon-provided IPv6 block, "
                          "/64 subnets, a dualstack endpoint; recorded for later runs)."),
        click.option("--allow-principal", "allow_principal", multiple=True, metavar="ARN",
                     help="Exempt this IAM role or user from the seal (repeatable; recorded for later runs)."),
        click.option("--no-allow-principals", is_flag=True, help="Drop every recorded --allow-principal."),
        click.option("--endpoint-only", is_flag=True, default=None,
                     help="A stack that is only the gateway endpoint on --route-table-ids of --vpc-id (`s3gw audit`'s "
                          "fix); down takes off only what it added."),
        click.option("--route-table-ids", metavar="RTB,...", help="With --endpoint-only: the tables to route."),
        click.option("--services", metavar="s3[,dynamodb]", help="With --endpoint-only: the endpoints (default s3)."),
        click.option("--endpoint-policy", type=click.Choice(("full", "scoped")),
                     help="With --endpoint-only: AWS's default full access (default), or the account's own "
                          "resources only."),
        click.option("--table", metavar="NAME", help="A DynamoDB lane: this table (made, or with --adopt yours) "
                                                     "sealed to a DynamoDB gateway endpoint on the same tables."),
        click.option("--table-key", metavar="ATTR", help="With --table: the new table's string partition key "
                                                         "(default pk)."),
        click.option("--allow-aws-services/--no-allow-aws-services", default=None,
                     help="Let AWS services past the seal: log delivery, Inventory, AWS Config, Macie (service "
                          "principals, forward access sessions, service-linked roles; recorded for later runs)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def app_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Your function (`up` and `plan`): deployed from --code, or existing ones adopted with --function NAME --adopt.
    Left out, they come from the state file."""
    options = [
        click.option("--code", metavar="PATH", help="Your function's code: a directory (zipped deterministically; "
                                                    ".s3gwignore honoured) or a .zip."),
        click.option("--handler", metavar="MODULE.FUNCTION", help="Your function's handler, e.g. app.handler."),
        click.option("--runtime", help="Your function's runtime (default python3.12)."),
        click.option("--memory", type=int, metavar="MB", help="Your function's memory (default 128)."),
        click.option("--timeout", type=int, metavar="S", help="Your function's timeout in seconds (default 3)."),
        click.option("--env", multiple=True, metavar="KEY=VALUE",
                     help="An environment variable of your function (repeatable; BUCKET_NAME is set for you)."),
        click.option("--function-name", "app_name", metavar="NAME",
                     help="Your function's name (default <stack>-app)."),
        click.option("--function", "adopt_functions", multiple=True, metavar="NAME",
                     help="With --adopt: put this existing function on the path (repeatable); down restores it."),
        click.option("--keep-security-groups", is_flag=True, default=None,
                     help="With --function NAME --adopt: add the stack's group to the function's, not replace them."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


CONFIG_KEYS = {"stack", "region", "profile", "endpoint_url", "state_dir", "output", "verbose",
                "vpc_cidr", "azs", "bucket", "egress", "allow_principals", "allow_aws_services", "zones", "state_url",
                "adopt", "vpc_id", "subnet_ids", "max_concurrency", "retag_bucket", "code", "handler", "runtime",
                "memory", "timeout", "env", "app_name", "adopt_functions", "keep_security_groups", "ip_address_type",
                "endpoint_only", "route_table_ids", "services", "endpoint_policy", "table", "table_key"}


def graph_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--graph` and `--format`, for status and verify."""
    fn = click.option("--format", "graph_format", type=click.Choice(("tree", "mermaid")), default="tree",
                      show_default=True, help="With --graph: a tree, or a Mermaid flowchart (implies --graph).")(fn)
    return click.option("--graph", is_flag=True,
                        help="Draw the path: function → subnets → route tables → endpoint → bucket, each hop "
                             "ok, drifted or broken, with the fix.")(fn)
