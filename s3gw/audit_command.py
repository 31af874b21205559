"""The `s3gw audit` command: options, the clients per account and region, and the report on stdout.

Click only at import time (`s3gw --help` imports no boto3); the audit itself is s3gw.audit.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import click

from s3gw.errors import S3gwError, UsageError

AUDIT_OUTPUTS = ("text", "json", "markdown")


def _root_param(name: str) -> Any:
    ctx = click.get_current_context()
    return ctx.find_root().params.get(name)


def client_factory(profile: str | None, endpoint_url: str | None, credentials: dict[str, str] | None = None) -> Any:
    """(service, region) -> a boto3 client, made once each; standard retries and s3gw's timeouts."""
    import boto3
    from botocore.config import Config

    from s3gw import __version__
    from s3gw.aws import CONNECT_TIMEOUT, READ_TIMEOUT, retry_config
    from s3gw.botocore_data import botocore_session

    session = boto3.session.Session(botocore_session=botocore_session(), profile_name=profile)
    made: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()  # a session is not thread-safe; its clients are

    def client(service: str, region: str) -> Any:
        with lock:
            if (service, region) not in made:
                config = Config(region_name=region, retries=retry_config(),  # type: ignore[arg-type]
                                user_agent_extra=f"s3gw/{__version__}", connect_timeout=CONNECT_TIMEOUT,
                                read_timeout=READ_TIMEOUT)
                made[(service, region)] = session.client(service, endpoint_url=endpoint_url, config=config,
                                                         **(credentials or {}))
            return made[(service, region)]

    return client


def assumed(base: Any, home: str, account: str, role_name: str, partition: str) -> dict[str, str]:
    """Credentials of role_name in account (sts:AssumeRole), as AWS Organizations' member-account roles are used."""
    answer = base("sts", home).assume_role(RoleArn=f"arn:{partition}:iam::{account}:role/{role_name}",
                                           RoleSessionName="s3gw-audit")["Credentials"]
    return {"aws_access_key_id": answer["AccessKeyId"], "aws_secret_access_key": answer["SecretAccessKey"],
            "aws_session_token": answer["SessionToken"]}


@click.group("audit", invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--regions", metavar="a,b|all", help="Regions to read (default: --region / AWS_REGION).")
@click.option("--since", default="14d", show_default=True, metavar="DURATION",
              help="The window of NAT metrics and flow-log records: 12h, 14d.")
@click.option("--output", "output", type=click.Choice(AUDIT_OUTPUTS), default=None, help="Report format on stdout.")
@click.option("--accounts", metavar="ID,ID", help="Audit these accounts through --role-name in each.")
@click.option("--role-name", metavar="NAME", help="The role to assume in each of --accounts.")
@click.option("--region", help="AWS region (the default for --regions, and where STS is called).")
@click.option("--profile", help="AWS profile.")
@click.option("--endpoint-url", help="AWS endpoint (the sandbox's).")
@click.option("-v", "--verbose", is_flag=True, help="Tracebacks.")
@click.pass_context
def audit(ctx: click.Context, regions: str | None, since: str, output: str | None, accounts: str | None,
          role_name: str | None, region: str | None, profile: str | None, endpoint_url: str | None,
          verbose: bool) -> None:
    """Find S3 and DynamoDB traffic that leaves through a NAT gateway: per VPC and subnet the path by route
    priority, the workloads, the bytes (flow logs, NAT metrics), the monthly cost, and the fix. Read only.

    \b
    Example:
      s3gw audit --regions us-east-1,eu-west-1 --since 14d --output markdown
    """
    if ctx.invoked_subcommand is not None:
        return
    import os

    region = region or _root_param("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    profile = profile or _root_param("profile") or os.environ.get("AWS_PROFILE")
    endpoint_url = endpoint_url or _root_param("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL")
    output = output or _root_param("output") or os.environ.get("S3GW_OUTPUT") or "text"
    if output not in AUDIT_OUTPUTS:
        output = "text"
    try:
        report = _run(regions, since, accounts, role_name, region, profile, endpoint_url)
    except S3gwError as exc:
        _fail(exc, verbose)
    _print(report, output)


def _fail(exc: S3gwError, verbose: bool) -> None:
    if verbose:
        import traceback

        from s3gw.errors import redact_lines

        sys.stderr.write(redact_lines(traceback.format_exc()))
    click.echo(f"error: {exc.line()}", err=True)
    sys.exit(exc.exit_code)


def _print(report: Any, output: str) -> None:
    import json

    from s3gw.audit import to_markdown, to_text

    if output == "json":
        click.echo(json.dumps(report.as_dict(), indent=2, sort_keys=False))
    elif output == "markdown":
        click.echo(to_markdown(report))
    else:
        click.echo(to_text(report))


def _run(regions: str | None, since: str, accounts: str | None, role_name: str | None, region: str | None,
         profile: str | None, endpoint_url: str | None) -> Any:
    from s3gw.audit import parse_regions, parse_window, run_audit
    from s3gw.botocore_data import partition_of
    from s3gw.config import validate_account, validate_endpoint_url, validate_region
    from s3gw.errors import translate

    endpoint_url = validate_endpoint_url(endpoint_url)
    names = parse_regions(regions, region)
    home = validate_region(region or (names[0] if names else None), endpoint_url)
    window = parse_window(since)
    if bool(accounts) != bool(role_name):
        raise UsageError("--accounts and --role-name go together", "give both, or neither for this account")
    wanted = [validate_account(a.strip()) for a in accounts.split(",")] if accounts else []
    base = client_factory(profile, endpoint_url)
    options = [*(["--profile", profile] if profile else []),
               *(["--endpoint-url", endpoint_url] if endpoint_url else [])]
    try:
        if wanted:
            factories = {a: client_factory(profile, endpoint_url, assumed(base, home, a, str(role_name),
                                                                          partition_of(home))) for a in wanted}
        else:
            own = str(base("sts", home).get_caller_identity()["Account"])
            factories, wanted = {own: base}, [own]
        with _progress() as progress:
            return run_audit(lambda a: factories[a], wanted, names, home, window, fix_options=options,
                             progress=progress)
    except S3gwError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith("botocore"):
            raise translate(exc, "auditing") from exc
        raise


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[int, int, str], None]]:
    """A progress bar of the regions read, on stderr when it is a terminal (and NO_COLOR unset); else nothing."""
    import os

    if not sys.stderr.isatty() or os.environ.get("NO_COLOR"):
        yield lambda done, total, label: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("regions read"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=None)

        def show(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        yield show


@audit.command("merge", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--output", "output", type=click.Choice(AUDIT_OUTPUTS), default="text", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="Tracebacks.")
def merge_command(files: tuple[str, ...], output: str, verbose: bool) -> None:
    """Fold `s3gw audit --output json` documents (one per account, from a CI matrix) into one report.

    \b
    Example:
      s3gw audit merge audits/*.json --output markdown
    """
    import json

    from s3gw.audit import from_dict, merge

    try:
        reports = []
        for name in files:
            try:
                with open(name, encoding="utf-8") as handle:
                    document = json.load(handle)
            except (OSError, ValueError) as exc:
                raise UsageError(f"cannot read {name}: {exc}", "give the files `s3gw audit --output json` wrote") \
                    from None
            reports.append(from_dict(document, name))
        _print(merge(reports), output)
    except S3gwError as exc:
        _fail(exc, verbose)
