"""Click commands only: parse options, call one command (s3gw.commands), render the result.

boto3 is imported only inside commands, so `s3gw --help` stays fast.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

import click

from s3gw import __version__
from s3gw.cli_options import (
    CONFIG_KEYS,
    CONTEXT,
    Group,
    app_options,
    complete_output_keys,
    from_environment,
    global_options,
    graph_options,
    shared_options,
    stack_options,
    with_global_options,
)
from s3gw.config import (
    OUTPUT_CHOICES,
    StackConfig,
    make_config,
    validate_account,
    validate_bucket,
    validate_function_name,
    validate_wait,
)
from s3gw.errors import (
    EXIT_CHECK,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Declined,
    NoAnswer,
    S3gwError,
    Terminated,
    UsageError,
    redact_lines,
)
from s3gw.words import plural


def _confirm(question: str, declined: str) -> None:
    """Ask; anything but yes (an empty answer, end of input) is Declined, exit 5. Ctrl-C stays an interrupt."""
    if not _interactive():
        raise UsageError(f"{click.get_current_context().info_name} needs confirmation",
                         "pass --yes when no terminal is attached")
    try:
        agreed = click.confirm(question, default=False, err=True)
    except click.Abort as exc:
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        click.echo(err=True)  # end the prompt's line: end of input left the cursor on it
        agreed = False
    if not agreed:
        raise Declined(declined)


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Build the config from the options, run the command, and turn S3gwError into one line + exit code."""

    @functools.wraps(fn)
    def run(**options: Any) -> None:
        from s3gw.render import Renderer

        options = with_global_options(options)
        renderer = Renderer(options.get("output") or "text", bool(options.get("verbose")),
                            color=not options.pop("no_color", False))
        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            principals = options.pop("allow_principal", ())
            if options.pop("no_allow_principals", False):
                if principals:
                    raise UsageError("--allow-principal and --no-allow-principals contradict each other")
                options["allow_principals"] = []
            elif principals:
                options["allow_principals"] = list(principals)
            try:
                config = make_config(**{k: options.pop(k) for k in list(options) if k in CONFIG_KEYS})
            except UsageError as exc:
                raise from_environment(exc) from exc.__cause__
            fn(config, renderer, **options)
        except Declined as exc:  # the user's own answer: one plain line, not an error
            renderer.note(exc.line())
            sys.exit(exc.exit_code)
        except S3gwError as exc:
            fail(renderer, exc)
        except NoAnswer as silent:
            fail(renderer, silent.error)
        except KeyboardInterrupt as exc:
            how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
            renderer.error(f"{how}; every resource created so far is recorded and the lock is freed: "
                           "run the command again")
            sys.exit(EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # click's own outcomes, rendered by the group
        except Exception:  # a bug of s3gw's: its traceback, with or without -v, but every line redacted, since a
            # chained botocore error quotes the request's signing headers (issue 26 item 16)
            import traceback

            sys.stderr.write(redact_lines(traceback.format_exc()))
            renderer.error("s3gw failed unexpectedly (a bug: the traceback above says where); every resource "
                           "created so far is recorded: run the command again, and report the traceback")
            sys.exit(EXIT_FAILED)
        finally:
            signal.signal(signal.SIGTERM, previous)

    return run


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM (kill, CI cancelling a job) unwinds like Ctrl-C: every `finally` runs, the lock is freed.
    A second SIGTERM is ignored, so that it cannot cut short the release of the lock."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def fail(renderer: Any, exc: S3gwError) -> NoReturn:
    """One line on stderr (the traceback too with -v) and the error's exit code."""
    if renderer.verbose:  # every line redacted: the chained errors quote the request's headers too
        import traceback

        sys.stderr.write(redact_lines(traceback.format_exc()))
    renderer.error(exc.line())
    sys.exit(exc.exit_code)


def sandbox_missing(exc: ImportError) -> S3gwError | None:
    """`pip install s3gw` without the extra: the emulator's modules are absent."""
    if (exc.name or "").split(".")[0] in ("moto", "werkzeug", "flask", "flask_cors", "responses"):
        return UsageError(f"the sandbox needs {exc.name}, which is not installed", "install s3gw[sandbox]")
    return None


@click.group(cls=Group, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="s3gw")
def cli(**global_options: Any) -> None:
    """A private path from a Lambda in private subnets to one S3 bucket, through an S3 gateway endpoint.

    \b
      s3gw up            create or converge the stack (safe to re-run)
      s3gw plan          what up would do, read calls only
      s3gw status        what is recorded, and whether it drifted
      s3gw down --yes    delete everything recorded
      s3gw demo          the whole lifecycle on the embedded emulator, no AWS account

    The options below may also be given after the command (`s3gw status --region eu-west-1`).
    """


for _option in global_options(for_group=True):  # appended to the built group, in order
    cli = _option(cli)


@cli.command(context_settings=CONTEXT)
@shared_options
@stack_options
@app_options
@click.option("--retag-bucket", is_flag=True,
              help="Confirm that the recorded bucket whose s3gw:stack tag is gone is the stack's: tag it again.")
@command
def up(config: StackConfig, renderer: Any) -> None:
    """Create the stack, or converge it (resumes after any failure).

    Ends with a line such as `up: 8 created, 0 repaired, 0 unchanged in 41.2s`.

    \b
    Example:
      s3gw up --region eu-west-1 --azs 2 --bucket my-private-bucket
    """
    from s3gw import commands

    started = time.monotonic()
    report = commands.up.up(config, renderer.progress)
    renderer.steps(f"stack {config.stack} in {config.region}", report, "up", time.monotonic() - started)


@cli.command(context_settings=CONTEXT)
@click.option("--exit-code", is_flag=True, help="Exit 3 when changes are pending, 0 when there is nothing to do.")
@shared_options
@stack_options
@app_options
@command
def plan(config: StackConfig, renderer: Any, exit_code: bool) -> None:
    """What `up` would create or change, with every attribute (read calls only).

    \b
    Example:
      s3gw plan --azs 2 --exit-code || echo "up has work to do"
    """
    from s3gw import commands

    report = commands.inspect.plan(config, renderer.progress)
    renderer.steps(f"plan for stack {config.stack} in {config.region}", report, "plan")
    if exit_code and not report.clean:
        sys.exit(EXIT_CHECK)


@cli.command(context_settings=CONTEXT)
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@shared_options
@command
def unseal(config: StackConfig, renderer: Any, yes: bool) -> None:
    """Remove the bucket's seal only (e.g. to upload once from here); `s3gw up` puts it back. Asks unless --yes.

    \b
    Example:
      s3gw unseal --yes && aws s3 cp data.csv "s3://$(s3gw outputs bucket)/" && s3gw up
    """
    from s3gw import commands

    if not yes:
        bucket = commands.inspect.recorded_outputs(config, required=True).get("bucket")
        if bucket:  # without one, commands.down.unseal says so (exit 2): nothing to ask about
            _confirm(f"Remove the seal of bucket {bucket} (stack {config.stack} in {config.region})? It then "
                     "answers outside the endpoint, to anyone the account's IAM policies allow, until 's3gw up' "
                     "seals it again.", f"unseal: declined; {bucket} stays sealed")
    bucket = commands.down.unseal(config, renderer.progress)
    if config.output == "json":
        renderer.json({"stack": config.stack, "region": config.region, "bucket": bucket, "sealed": False})
        return
    renderer.note(f"stack {config.stack}: {bucket} is unsealed (it answers outside the endpoint); "
                  "'s3gw up' seals it again")


@cli.command(context_settings=CONTEXT)
@graph_options
@shared_options
@command
def status(config: StackConfig, renderer: Any, graph: bool, graph_format: str) -> None:
    """Each recorded resource: whether it exists and matches. Exit 3 on drift.

    \b
    Example:
      s3gw status --stack prod --output json | jq '.steps[] | select(.action != "ok")'
      s3gw status --graph                     # the path as a tree, each hop ok / drifted / broken
    """
    from s3gw import commands

    report = commands.inspect.status(config, renderer.progress)
    if graph or graph_format == "mermaid":
        from s3gw.pathgraph import from_status
        from s3gw.render import summary_counts, summary_line

        renderer.path_graph(report, from_status(report), graph_format, summary_line("status", report),
                            f"stack {config.stack} in {config.region}", summary_counts("status", report))
    else:
        renderer.steps(f"stack {config.stack} in {config.region}", report, "status")
    if not report.clean:
        sys.exit(EXIT_CHECK)


@cli.command(context_settings=CONTEXT)
@click.argument("key", required=False, shell_complete=complete_output_keys)
@shared_options
@command
def outputs(config: StackConfig, renderer: Any, key: str | None) -> None:
    """The recorded ids as `key<TAB>value` lines; with KEY, one bare value (lists space-separated).

    \b
    Example:
      aws s3 ls "s3://$(s3gw outputs bucket)"
      s3gw outputs | awk '$1 == "subnet_ids"'
    """
    from s3gw import commands

    if key:
        renderer.bare(key, commands.inspect.output_value(config, key))
    else:
        renderer.outputs(commands.inspect.recorded_outputs(config, required=True))


@cli.command("test-invoke", context_settings=CONTEXT)
@click.option("--put", "put_key", metavar="KEY", help="Have the function write this object first.")
@click.option("--other-bucket", metavar="NAME",
              help="The bucket the function must NOT reach (default: another bucket of the account).")
@shared_options
@command
def test_invoke(config: StackConfig, renderer: Any, put_key: str | None, other_bucket: str | None) -> None:
    """Invoke the function: it lists the bucket through the endpoint. Exit 3 with a diagnosis on failure.

    \b
    Example:
      s3gw test-invoke --put hello.txt
    """
    from s3gw import commands

    if put_key is not None and not 0 < len(put_key.encode()) <= 1024:
        raise UsageError("--put needs an object key of 1 to 1024 bytes")
    if other_bucket is not None:
        validate_bucket(other_bucket)
    report = commands.invoke.test_invoke(config, renderer.progress, put_key=put_key, other_bucket=other_bucket)
    renderer.invocation(report)
    if not report.ok:
        sys.exit(EXIT_CHECK)


@cli.command("invoke", context_settings=CONTEXT)
@click.option("--function", "function_name", metavar="NAME",
              help="The function (default: yours, deployed with --code, else the only adopted one).")
@click.option("--payload", metavar="JSON|@FILE", help="The event: a JSON document, or @file.json (default {}).")
@shared_options
@command
def invoke(config: StackConfig, renderer: Any, function_name: str | None, payload: str | None) -> None:
    """Invoke your function: its response on stdout as it returned it, its log tail on stderr. Exit 3 when it
    raised (FunctionError), with the error type and message.

    \b
    Example:
      s3gw invoke --payload '{"name": "world"}'
    """
    from s3gw import commands
    from s3gw.config import read_payload
    from s3gw.errors import CheckFailed

    if function_name is not None:
        validate_function_name(function_name)
    answer = commands.invoke.invoke_function(config, renderer.progress, function_name=function_name,
                                    payload=read_payload(payload))
    if config.output == "json":
        try:
            response: Any = json.loads(answer.payload) if answer.payload else None
        except ValueError:
            response = answer.payload.decode(errors="replace")
        renderer.json({"function": answer.function, "response": response, "function_error": answer.function_error,
                       "error_type": answer.error_type, "error_message": answer.error_message,
                       "log_tail": answer.log_tail}, elapsed=False)
    else:
        if answer.log_tail:
            click.echo(answer.log_tail.rstrip("\n"), err=True)
        sys.stdout.buffer.write(answer.payload + b"\n")
        sys.stdout.flush()
    if answer.function_error:
        raise CheckFailed(f"function {answer.function} failed: {answer.error_type}: {answer.error_message}")


@cli.command("logs", context_settings=CONTEXT)
@click.option("--function", "function_name", metavar="NAME",
              help="The function (default: yours, deployed with --code, else the only adopted one).")
@click.option("--since", default="10m", show_default=True, metavar="DURATION",
              help="From how long ago: 30s, 10m, 2h, 1d.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@shared_options
@command
def logs(config: StackConfig, renderer: Any, function_name: str | None, since: str, follow: bool) -> None:
    """Your function's CloudWatch log lines (/aws/lambda/NAME), oldest first.

    \b
    Example:
      s3gw logs --since 1h --follow
    """
    from s3gw import commands
    from s3gw.config import parse_since

    if function_name is not None:
        validate_function_name(function_name)
    seconds = parse_since(since)
    commands.invoke.function_logs(config, renderer.progress, lambda line: click.echo(line), function_name=function_name,
                         since=seconds, follow=follow)


@cli.command(context_settings=CONTEXT)
@click.option("--function", "function_name", help="Verify this existing function instead of the stack's.")
@click.option("--bucket", "target_bucket", help="Verify this existing bucket instead of the stack's.")
@graph_options
@shared_options
@command
def verify(config: StackConfig, renderer: Any, function_name: str | None, target_bucket: str | None, graph: bool,
           graph_format: str) -> None:
    """Check every link of the path; name the broken one and how to fix it. Exit 3 if any is broken.

    \b
    Example:
      s3gw verify --function my-fn --bucket my-bucket   # a setup s3gw did not make
    """
    from s3gw import commands

    if bool(function_name) != bool(target_bucket):
        raise UsageError("--function and --bucket go together", "name both, or neither for the stack")
    if function_name and target_bucket:
        validate_function_name(function_name)
        validate_bucket(target_bucket)
    report = commands.verify.verify(config, renderer.progress, function_name=function_name, bucket=target_bucket)
    if graph or graph_format == "mermaid":
        from s3gw.pathgraph import from_verify
        from s3gw.render import verdict_line, verify_counts, verify_document

        renderer.path_graph(verify_document(report), from_verify(report), graph_format, verdict_line(report),
                            summary=verify_counts(report))
    else:
        renderer.checks(report)
    if not report.ok:
        sys.exit(EXIT_CHECK)


@cli.command(context_settings=CONTEXT)
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@click.option("--wait", default="2700", show_default=True, metavar="SECONDS",
              help="Bound on the wait for Lambda's network interfaces to go (AWS: up to ~35 min).")
@click.option("--from-tags", is_flag=True,
              help="Find the stack's resources by their s3gw:stack tag (the state file was lost), then delete.")
@shared_options
@command
def down(config: StackConfig, renderer: Any, yes: bool, wait: str, from_tags: bool) -> None:
    """Delete the stack, found by recorded id and by its s3gw:stack tag, in safe order; the bucket with every
    object version in it.

    \b
    Example:
      s3gw down --stack demo --yes
    """
    from s3gw import commands

    bound = validate_wait(wait)
    if not from_tags and not commands.inspect.state_exists(config):  # done already, if nothing carries its tag: exit 0
        commands.down.down_without_state(config)  # exit 1 naming what carries the stack's tag, and the ways on
        renderer.note(f"stack {config.stack}: no state at {config.state_where}, and nothing tagged "
                      f"s3gw:stack={config.stack} in {config.region}; nothing to delete")
        if config.output == "json":
            renderer.json({"stack": config.stack, "deleted": [], "left": {}, "problems": [], "already_gone": []},
                          {"deleted": 0, "already_gone": 0, "left": 0})
        return
    if not yes:
        _confirm(_down_question(config, from_tags), f"down: declined; nothing of stack {config.stack} was deleted")
    started = time.monotonic()
    report = commands.down.down(config, renderer.progress, wait=bound, from_tags=from_tags, live=renderer.live_line())
    if config.output == "json":
        renderer.json(report, _down_counts(report))
    else:
        gone = f", already gone {len(report.already_gone)} ({', '.join(report.already_gone)})" \
            if report.already_gone else ""
        renderer.result(f"down: deleted {len(report.deleted)} ({', '.join(report.deleted) or 'nothing'}){gone} "
                        f"in {time.monotonic() - started:.1f}s")
    for problem in report.problems:
        renderer.error(problem)
    if report.left:
        renderer.error("left in AWS and recorded: " + "; ".join(commands.reports.describe_resources(report.left))
                       + "; run 'down' again")
    if not report.complete:
        sys.exit(1)


def _interactive() -> bool:
    return sys.stdin.isatty()


def _down_counts(report: Any) -> dict[str, int]:
    """The text's `deleted N`, `already gone N`, and how many resources are left."""
    from s3gw import commands

    return {"deleted": len(report.deleted), "already_gone": len(report.already_gone),
            "left": len(commands.reports.describe_resources(report.left))}


def _down_question(config: StackConfig, from_tags: bool) -> str:
    from s3gw import commands

    if from_tags:
        return f"Delete everything tagged s3gw:stack={config.stack} in {config.region}?"
    resources, versions = commands.down.down_preview(config)
    lines = [f"Delete stack {config.stack} in {config.region}:", *(f"  {line}" for line in resources)]
    if versions is None:  # the seal refuses ListBucketVersions outside the endpoint, unless --allow-principal
        lines.append("  and every object version in the bucket (not counted: S3 refused to list them from here)")
    elif versions:
        lines.append("  and the bucket's " + plural(versions, "object version or delete marker",
                                                    "object versions and delete markers"))
    lines.append(f"  and anything else tagged s3gw:stack={config.stack}")
    return "\n".join([*lines, "Proceed?"])


@cli.command(context_settings=CONTEXT)
@click.option("--account", metavar="ID", help="Account id for the ARNs (default: the state file's, else *).")
@click.option("--bucket", help="Bucket name (default: the recorded one, else <stack>-<account>-<region>).")
@click.option("--adopt", is_flag=True, default=None, help="The bucket is yours: up --bucket NAME --adopt.")
@click.option("--vpc-id", help="The VPC you bring to up --vpc-id (its route tables and endpoint carry no stack tag).")
@click.option("--function", "function_name", metavar="NAME",
              help="Also what verify --function NAME --bucket NAME needs on a setup s3gw did not make.")
@click.option("--audit", "for_audit", is_flag=True, help="The read-only policy `s3gw audit` needs instead.")
@click.option("--table", metavar="NAME", help="The DynamoDB lane of up --table NAME (default: the recorded one).")
@shared_options
@command
def permissions(config: StackConfig, renderer: Any, account: str | None, function_name: str | None,
                for_audit: bool) -> None:
    """The operator's least-privilege IAM policy for everything s3gw does (no AWS call).

    \b
    Example:
      s3gw permissions --output json > s3gw-operator-policy.json
    """
    from s3gw import commands
    from s3gw.permissions import AUDIT_ROWS, audit_policy, policy_document, rows

    if for_audit:  # `s3gw audit`'s own: read only, nothing of a stack
        if config.output == "json":
            renderer.raw_json(audit_policy())
        else:
            renderer.permissions([{"action": a, "on": "*", "why": why, "commands": "audit"} for a, why in AUDIT_ROWS],
                                 audit_policy())
        return
    if account is not None:
        validate_account(account)
    if function_name is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", function_name):
        # Lambda's function names (CreateFunction API reference: letters, digits, hyphens, underscores; 64 at most)
        raise UsageError(f"invalid function name {function_name!r}", "use the function's name, e.g. my-fn")
    if function_name is not None and not config.bucket:
        raise UsageError("--function needs --bucket", "name the bucket verify --function … --bucket … checks")
    target = commands.verify.permissions_target(config, account, function_name)
    if config.output == "json":  # the IAM policy document as it is: IAM refuses any other top-level key
        renderer.raw_json(policy_document(target))
    else:
        renderer.permissions(rows(), policy_document(target))


@cli.command(context_settings=CONTEXT)
@click.option("--force", is_flag=True, help="Required: remove the lock whoever holds it.")
@shared_options
@command
def unlock(config: StackConfig, renderer: Any, force: bool) -> None:
    """Remove a stack's lock left by a run that died (as terraform force-unlock).

    \b
    Example:
      s3gw unlock --force --stack prod --state s3://acme-s3gw-state/prod
    """
    from s3gw import commands
    from s3gw.state import holder_line

    if not force:
        raise UsageError("unlock removes the lock another run may still hold",
                         "make sure no run uses the stack, then pass --force")
    removed = commands.state.force_unlock(config)
    if config.output == "json":
        renderer.json({"stack": config.stack, "state": config.state_where, "removed_lock": removed})
    elif removed is None:
        renderer.note(f"stack {config.stack} is not locked; nothing removed")
    else:
        renderer.note("removed the lock: " + holder_line(config.stack, removed, "was locked"))


@cli.group(context_settings=CONTEXT)
def state() -> None:
    """The state in S3: set up its bucket; move a stack's state between this directory and S3.

    \b
    Example:
      s3gw state init s3://acme-s3gw-state/prod && s3gw state push --state s3://acme-s3gw-state/prod
    """


@state.command("init", context_settings=CONTEXT)
@click.argument("url", required=False, metavar="s3://BUCKET[/PREFIX]")
@shared_options
@command
def state_init(config: StackConfig, renderer: Any, url: str | None) -> None:
    """Create the state bucket (or finish it): versioned, encrypted, Block Public Access, TLS only.

    \b
    Example:
      s3gw state init s3://acme-s3gw-state/prod
    """
    from dataclasses import replace

    from s3gw import commands
    from s3gw.config import validate_state_url

    if url:
        config = replace(config, state_url=validate_state_url(url))
    done = commands.state.state_init(config, renderer.progress)
    if config.output == "json":
        renderer.json({"state": config.state_url, "changed": done})
        return
    renderer.note(f"state bucket {config.state_url}: " + (", ".join(done) if done else "already set up")
                  + f"; use it with --state {config.state_url} or S3GW_STATE")


@state.command("push", context_settings=CONTEXT)
@click.option("--force", is_flag=True, help="Replace a different state already in S3.")
@shared_options
@command
def state_push(config: StackConfig, renderer: Any, force: bool) -> None:
    """Copy the stack's state from --state-dir to --state s3://…

    \b
    Example:
      s3gw state push --stack prod --state s3://acme-s3gw-state/prod
    """
    _copy_state(config, renderer, "push", force)


@state.command("pull", context_settings=CONTEXT)
@click.option("--force", is_flag=True, help="Replace a different state already in --state-dir.")
@shared_options
@command
def state_pull(config: StackConfig, renderer: Any, force: bool) -> None:
    """Copy the stack's state from --state s3://… to --state-dir.

    \b
    Example:
      s3gw state pull --stack prod --state s3://acme-s3gw-state/prod
    """
    _copy_state(config, renderer, "pull", force)


def _copy_state(config: StackConfig, renderer: Any, direction: str, force: bool) -> None:
    """`state push` and `state pull`: the same copy, with its direction."""
    from s3gw import commands

    done = commands.state.state_copy(config, direction, force=force)
    local, remote = str(config.state_path), config.state_where
    source, target = (local, remote) if direction == "push" else (remote, local)
    if config.output == "json":
        renderer.json({"stack": config.stack, "from": source, "to": target, "result": done})
        return
    renderer.note(f"stack {config.stack}: {source} → {target}: {done}")


@cli.command(context_settings=CONTEXT)
@click.option("--port", type=click.IntRange(0, 65535), default=4566, show_default=True)
@click.option("--print-env", is_flag=True, help="Print the export line for --port and exit (serve nothing).")
@click.option("--env-file", type=click.Path(dir_okay=False, writable=True), metavar="PATH",
              help="Write the export line to PATH once requests are answered, then serve.")
def sandbox(port: int, print_env: bool, env_file: str | None) -> None:
    """Serve the embedded AWS emulator on 127.0.0.1 until stopped (Ctrl-C); print the export line for it.

    \b
    Example:
      s3gw sandbox --port 4566 --env-file sandbox.env &   # serves in the background
      until [ -s sandbox.env ]; do sleep 0.2; done; . ./sandbox.env   # once it answers
      eval "$(s3gw sandbox --port 4566 --print-env)"   # the same line, at once, in any shell
    """
    from s3gw.render import Renderer

    renderer = Renderer()
    if print_env:  # no server: `eval "$(…)"` returns at once (the serving command's output never ends)
        if port == 0:
            fail(renderer, UsageError("--print-env needs the --port the sandbox serves on", "give --port N"))
        click.echo(_sandbox_env(f"http://127.0.0.1:{port}"))
        return
    try:
        from s3gw.sandbox import Behaviours, serve
    except ImportError as exc:
        fail(renderer, sandbox_missing(exc) or _reraise(exc))
    if env_file:  # an older run's file goes first, so that a shell polling for it waits for this server
        try:
            os.unlink(env_file)
        except FileNotFoundError:
            pass
        except OSError as exc:
            fail(renderer, UsageError(f"cannot replace --env-file {env_file}: {exc.strerror}", "choose another path"))
        if not os.path.isdir(os.path.dirname(env_file) or "."):
            fail(renderer, UsageError(f"--env-file {env_file}: no such directory", "choose another path"))

    def ready(url: str) -> None:
        if env_file:
            try:
                _write_env_file(env_file, _sandbox_env(url) + "\n")
            except OSError as exc:
                raise UsageError(f"cannot write --env-file {env_file}: {exc.strerror}", "choose another path") from None
        click.echo(_sandbox_env(url))
        click.echo("sandbox ready; Ctrl-C stops it", err=True)

    try:
        behaviours = Behaviours.from_env()
    except ValueError as exc:  # a bad S3GW_SANDBOX_* value: the message names the variable
        fail(renderer, UsageError(str(exc), "correct or unset it"))
    try:
        serve(port, behaviours, ready)
    except UsageError as exc:  # ready()'s: the --env-file could not be written
        fail(renderer, exc)
    except OSError as exc:
        fail(renderer, UsageError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror}", "choose another --port"))


def _sandbox_env(url: str) -> str:
    return (f"export AWS_ENDPOINT_URL={url} AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox "
            "AWS_REGION=us-east-1")


def _write_env_file(path: str, text: str) -> None:
    """Whole or absent (a temporary file renamed): a shell polling for it never sources half a line."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def _reraise(exc: BaseException) -> NoReturn:
    raise exc


@cli.command(context_settings=CONTEXT)
@click.option("--keep", is_flag=True, help="Leave the stack up and the emulator serving until Ctrl-C.")
@click.option("--output", "output", type=click.Choice(OUTPUT_CHOICES), default="text", show_default=True)
@click.option("-v", "--verbose", is_flag=True)
@click.option("--no-color", is_flag=True, help="No colour.")
def demo(keep: bool, output: str, verbose: bool, no_color: bool) -> None:
    """The whole lifecycle on the embedded emulator: no AWS account, nothing left behind.

    Needs the sandbox extra (pip install 's3gw[sandbox]'); exit 2 without it.

    \b
    Example:
      s3gw demo --keep    # then, in another shell, the printed exports reach the kept stack
    """
    from s3gw.render import Renderer

    options = with_global_options({"output": output, "verbose": verbose, "no_color": no_color})
    renderer = Renderer(options["output"], options["verbose"], color=not options["no_color"])
    # This process ends after the demo, so the cyclic garbage collector stays off: moto's data and botocore's
    # models make ~400k long-lived objects, and each full collection walks them all (~1.4 s of a ~8.6 s demo
    # went to ten of them, for ~0.2 M cyclic objects, ~80 MB, mostly discarded botocore loaders), and the
    # collections at interpreter exit took ~1.5 s more to free what the OS takes back anyway (gc.freeze).
    import gc

    gc.disable()
    try:
        from s3gw.demo import run_demo

        ok = run_demo(renderer, keep=keep)
    except ImportError as exc:
        fail(renderer, sandbox_missing(exc) or _reraise(exc))
    except S3gwError as exc:
        fail(renderer, exc)
    gc.freeze()
    sys.exit(0 if ok else EXIT_CHECK)


from s3gw.audit_command import audit as _audit  # noqa: E402  (click only: `s3gw --help` stays light)

cli.add_command(_audit)


def main() -> None:
    cli(prog_name="s3gw")


if __name__ == "__main__":
    main()
