"""The bucket: private, encrypted, and sealed so it answers only through the endpoint.

`down` deletes the policy first: the deny also refuses the operator's own object calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from s3gw.errors import AwsError, UsageError, translate
from s3gw.policy.documents import (
    FUNCTION_ACTIONS,
    POLICY_SIZE_LIMIT,
    action_resource,
    bucket_arns,
    bucket_policy,
    canonical,
    merge_seal,
    own_part,
    own_statements,
    statements_of,
    strip_seal,
)
from s3gw.policy.evaluator import Request, decide
from s3gw.steps.base import (
    STACK_TAG,
    Context,
    Drift,
    Step,
    adoption,
    ahead,
    at_once,
    call,
    is_code,
    look_ahead,
    record_adoption,
    retry,
    tag_dict,
)
from s3gw.words import plural

_BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
_MISSING = ("NoSuchBucket", "404", "NotFound")
POLICY_GONE_WAIT = 60.0


def location_region(answer: dict[str, Any]) -> str:
    """GetBucketLocation's LocationConstraint as a region: "Buckets in Region us-east-1 have a LocationConstraint
    of null. Buckets with a LocationConstraint of EU reside in eu-west-1" (botocore's S3 model)."""
    location = str(answer.get("LocationConstraint") or "us-east-1")
    return "eu-west-1" if location == "EU" else location


def bucket_name(ctx: Context) -> str:
    return ctx.config.bucket or ctx.outputs.get("bucket") or ctx.config.default_bucket(ctx.aws.account)


def bucket_tags(ctx: Context, bucket: str) -> dict[str, str]:
    try:
        tag_set = ctx.aws.s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except Exception as exc:
        if is_code(exc, "NoSuchTagSet", "NoSuchTagSetError"):
            return {}
        raise
    return tag_dict(tag_set)


def public_access_off(ctx: Context, bucket: str) -> list[str]:
    """The Block Public Access settings that are not on (all four when there is no configuration)."""
    try:
        block = ctx.aws.s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except Exception as exc:
        if not is_code(exc, "NoSuchPublicAccessBlockConfiguration"):
            raise
        block = {}
    return [key for key in _BLOCK_ALL if not block.get(key)]


def policy_text(ctx: Context, bucket: str) -> str | None:
    """The bucket policy as S3 returns it, or None when the bucket has none."""
    try:
        return str(ctx.aws.s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except Exception as exc:
        if not is_code(exc, "NoSuchBucketPolicy"):
            raise
        return None


def encryption_rules(ctx: Context, bucket: str) -> list[Any]:
    try:
        return list(ctx.aws.s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"])
    except Exception as exc:
        if not is_code(exc, "ServerSideEncryptionConfigurationNotFoundError"):
            raise
        return []


def seal(ctx: Context, bucket: str, endpoint_id: str | None = None) -> dict[str, Any]:
    """The seal this stack asks for (its --allow-principal and --allow-aws-services); endpoint_id for plan's
    look before the endpoint exists."""
    return bucket_policy(bucket, endpoint_id or ctx.outputs["endpoint_id"], ctx.aws.partition,
                         ctx.config.allow_principals, bool(ctx.config.allow_aws_services), ctx.aws.account)


# What check() reads of a bucket s3gw made, by ctx.seen name (with ":<bucket>"): read ahead by find when recorded.
_CHECKED: dict[str, Callable[[Context, str], Any]] = {
    "bucket_tags": bucket_tags, "bucket_public_off": public_access_off, "bucket_encryption": encryption_rules,
    "bucket_policy": policy_text}


class NotOwned(AwsError):
    """A bucket whose ownership by the stack is not proven: never emptied, never deleted."""


# --- whose bucket: the tag, and a bucket a run made but had not tagged yet ---------------------------------------
# Where S3 refuses CreateBucketConfiguration.Tags (400 UnsupportedArgument: hashicorp/terraform-provider-aws#45684
# in aws-eusc, #45566, #45784; the provider retries without the tags since #46122), `up` makes the bucket untagged
# and tags it at once (PutBucketTagging). The state records `bucket_pending` (saved) before that CreateBucket and
# `bucket` only once the tag is on, so a crash in between leaves a bucket the state names as pending. That bucket is
# taken as the stack's -- tagged by the next `up`, deleted by `down` -- only while it is exactly as the untagged
# CreateBucket left it (untouched): no tag at all, no bucket policy, no object. The find just before the create saw
# no bucket of that name, so another maker would have had to make it in between, and such a bucket holds nothing to
# lose. Anything else (a tag of any kind, a policy, an object) is not proven: refused, with the way on named
# (--retag-bucket, which the user confirms).


def untouched(ctx: Context, bucket: str) -> bool:
    """Whether a bucket is as an untagged CreateBucket left it: no tag, no bucket policy, no object version."""
    if bucket_tags(ctx, bucket) or policy_text(ctx, bucket) is not None:
        return False
    page = ctx.aws.s3.list_object_versions(Bucket=bucket, MaxKeys=1)
    return not page.get("Versions") and not page.get("DeleteMarkers")


def pending_proven(ctx: Context, bucket: str) -> bool:
    """A bucket the state records as pending (made by a run that stopped before tagging it), still untouched."""
    return ctx.outputs.get("bucket_pending") == bucket and untouched(ctx, bucket)


def tag_again(ctx: Context, bucket: str, tags: dict[str, str]) -> None:
    """Put the stack's tags on a bucket the state records, keeping its other tags (PutBucketTagging replaces the
    whole set)."""
    ours = {t["Key"]: t["Value"] for t in ctx.tags(bucket)}
    kept = [{"Key": k, "Value": v} for k, v in tags.items() if k not in ours]
    call(f"tagging {bucket}", ctx.aws.s3.put_bucket_tagging, retry_not_found=ctx, Bucket=bucket,
         Tagging={"TagSet": ctx.tags(bucket) + kept})


def lost_tag(ctx: Context, bucket: str, tags: dict[str, str], *, sealed: bool) -> AwsError:
    """A bucket the state records as the stack's without the stack's tag: never sealed, emptied or deleted unproven;
    what the state says of it, and the way on."""
    stack, other = ctx.config.stack, tags.get(STACK_TAG)
    if other:
        return NotOwned(f"bucket {bucket} carries the tag {STACK_TAG}={other}: it is stack {other}'s, though the "
                        f"state of stack {stack} names it; s3gw will not seal or adopt it",
                        "check the state file; 's3gw down' drops it from the state without touching it")
    seal_now = "it is still sealed" if sealed else "it is not sealed now"
    return NotOwned(f"bucket {bucket} lacks the tag {STACK_TAG}={stack}, though the state records that stack {stack} "
                    f"made it (was the tag removed?): s3gw will not seal a bucket it cannot prove its own, and "
                    f"{seal_now}", "if it is the stack's, run 's3gw up --retag-bucket' to tag it again and seal it")


def probe(ctx: Context, bucket: str) -> str:
    """What is there by the name the stack would make: 'missing', 'ours' (the stack's tag), 'untagged', 'other:<stack>'
    (another stack's tag), or 'denied' (another account's, or not ours to read). Not HeadBucket: the seal denies it."""
    try:
        ctx.aws.s3.get_bucket_location(Bucket=bucket)
    except Exception as exc:
        if is_code(exc, *_MISSING):
            return "missing"
        if is_code(exc, "403", "AccessDenied", "Forbidden"):
            return "denied"
        raise translate(exc, f"checking bucket {bucket}") from exc
    tag = bucket_tags(ctx, bucket).get(STACK_TAG)
    return "ours" if tag == ctx.config.stack else f"other:{tag}" if tag else "untagged"


def known_bucket_name(ctx: Context) -> str | None:
    """The stack's bucket name when it is known without asking AWS for the account (--bucket, the state)."""
    if ctx.config.bucket or ctx.outputs.get("bucket") or ctx.outputs.get("bucket_pending"):
        return bucket_name(ctx)
    return ctx.config.default_bucket(ctx.state.account) if ctx.state.account else None


def probe_ahead(ctx: Context) -> None:
    """`up` and `plan`: probe the bucket the stack would make in the run's first round (with the account), when its
    name is known then and the state does not record it; a failure is left to refuse_unowned, which reads again."""
    bucket = known_bucket_name(ctx)
    if bucket and not ctx.config.adopt and not _recorded(ctx, bucket):
        ahead(ctx, f"bucket_probe:{bucket}", lambda: probe(ctx, bucket))


def _recorded(ctx: Context, bucket: str) -> bool:
    return bucket in (ctx.outputs.get("bucket"), ctx.outputs.get("bucket_pending"))


def refuse_unowned(ctx: Context, *, before_anything: bool = False) -> str | None:
    """A bucket by the stack's name that the state does not record and that is not the stack's is refused in one
    line naming --adopt (issue 26: `up` and `plan` check it before anything is made). Returns the probe; None when
    there is nothing to probe (--adopt, recorded). `before_anything`: only a name known without the account (a new
    stack's default name is probed by the bucket's find, in the graph, costing no round of its own)."""
    if ctx.config.adopt:
        return None
    bucket = known_bucket_name(ctx) if before_anything else bucket_name(ctx)
    if not bucket or _recorded(ctx, bucket):
        return None
    if before_anything and not ctx.config.bucket and f"bucket_probe:{bucket}" not in ctx.seen:
        return None  # not probed in the first round: no round of its own here; the bucket's find probes it
    found = ctx.remember(f"bucket_probe:{bucket}", lambda: probe(ctx, bucket))
    if found == "denied":
        raise AwsError(f"the bucket name {bucket} is taken by another account (or you may not read it)",
                       "choose another name with --bucket")
    if found == "untagged":
        raise UsageError(f"bucket {bucket} exists and is not stack {ctx.config.stack}'s (it lacks the tag "
                         f"{STACK_TAG}={ctx.config.stack})", "to seal it as it is, add --adopt (s3gw only adds its "
                         "policy statements; down keeps the bucket and its data); else choose another --bucket")
    if found.startswith("other:"):
        raise UsageError(f"bucket {bucket} is stack {found.removeprefix('other:')}'s (it carries its tag "
                         f"{STACK_TAG})", "choose another --bucket")
    return found


def ownership(ctx: Context, bucket: str) -> str:
    """'ours' (it carries the stack's tag), 'gone', 'foreign' (readable, without the tag: another's or
    untagged), or 'unknown' (S3 will not tell us: another account's, or we may not read its tags)."""
    try:
        # Not HeadBucket: the seal denies it. The two reads at once: GetBucketTagging of a bucket that is gone or
        # not ours to read fails as GetBucketLocation does, and the location's error is the one judged (at_once).
        _, tags = at_once(ctx, lambda: ctx.aws.s3.get_bucket_location(Bucket=bucket), lambda: bucket_tags(ctx, bucket))
        tag = tags.get(STACK_TAG)
    except Exception as exc:
        if is_code(exc, *_MISSING):
            return "gone"
        if is_code(exc, "403", "AccessDenied", "Forbidden"):
            return "unknown"
        raise translate(exc, f"checking bucket {bucket}") from exc
    return "ours" if tag == ctx.config.stack else "foreign"


class BucketStep(Step):
    name = "bucket"
    title = "bucket"
    # bucket_pending: recorded before an untagged CreateBucket, until its tag is on (see untouched())
    keys = ("bucket", "bucket_pending")

    def find(self, ctx: Context) -> dict[str, Any] | None:
        ctx.unsee("bucket_new")
        bucket = bucket_name(ctx)
        if ctx.config.adopt:
            return find_adopted(ctx, bucket)
        recorded = _recorded(ctx, bucket)
        if not recorded:
            return None if refuse_unowned(ctx) == "missing" else {"bucket": bucket}
        try:
            # Not HeadBucket: it needs s3:ListBucket, which the seal denies outside the endpoint.
            location = lambda: ctx.aws.s3.get_bucket_location(Bucket=bucket)  # noqa: E731
            if recorded and look_ahead(ctx):  # what check() reads of it, at once with it
                answer = at_once(ctx, location, *[lambda n=n, r=r: ahead(ctx, f"{n}:{bucket}", lambda: r(ctx, bucket))
                                                  for n, r in _CHECKED.items()])[0]
            else:
                answer = location()
            ctx.seen[f"bucket_location:{bucket}"] = answer
        except Exception as exc:
            if is_code(exc, *_MISSING):
                return None
            if is_code(exc, "403", "AccessDenied", "Forbidden"):
                raise AwsError(f"the bucket name {bucket} is taken by another account (or you may not read it)",
                               "choose another name with --bucket") from None
            raise translate(exc, f"checking bucket {bucket}") from exc
        return {"bucket": bucket}

    def create(self, ctx: Context) -> None:
        bucket = bucket_name(ctx)
        # Tagged in the same call (CreateBucketConfiguration.Tags, botocore's s3 model; it needs s3:TagResource),
        # so the bucket carries the stack's tag from its first moment: a crash before its name is recorded
        # leaves a bucket the next `up` or `down` finds by name and proves ours by the tag.
        location = {} if ctx.config.region == "us-east-1" else {"LocationConstraint": ctx.config.region}
        try:
            ctx.aws.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={**location, "Tags": ctx.tags(bucket)})
        except Exception as exc:
            if is_code(exc, "UnsupportedArgument"):  # a region or partition without tags at create (see untouched)
                self._create_then_tag(ctx, bucket, location)
                return
            self._refused(ctx, bucket, exc)
        else:
            if ctx.config.region == "us-east-1" and bucket_tags(ctx, bucket).get(STACK_TAG) != ctx.config.stack:
                raise self._not_made(ctx, bucket)
            self._made(ctx, bucket)
        ctx.record("bucket", bucket)

    def _create_then_tag(self, ctx: Context, bucket: str, location: dict[str, str]) -> None:
        """CreateBucket without tags, then PutBucketTagging at once; `bucket_pending` is recorded (saved) before the
        create and dropped once the tag is on, so that a crash in between ends clean (see untouched)."""
        ctx.progress(f"S3 here takes no tags in CreateBucket (UnsupportedArgument): making {bucket}, then tagging it")
        ctx.record("bucket_pending", bucket)
        try:
            ctx.aws.s3.create_bucket(Bucket=bucket, **({"CreateBucketConfiguration": location} if location else {}))
        except Exception as exc:
            if is_code(exc, "BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
                ctx.forget("bucket_pending")  # made by another: this run made nothing
            self._refused(ctx, bucket, exc)
        else:
            # us-east-1 answers 200 to a bucket the account already has: there, only an untouched one is this run's.
            if ctx.config.region == "us-east-1" and not untouched(ctx, bucket):
                ctx.forget("bucket_pending")
                raise self._not_made(ctx, bucket)
            call(f"tagging {bucket}", ctx.aws.s3.put_bucket_tagging, retry_not_found=ctx, Bucket=bucket,
                 Tagging={"TagSet": ctx.tags(bucket)})
            self._made(ctx, bucket)
        ctx.record("bucket", bucket)
        ctx.forget("bucket_pending")

    def _refused(self, ctx: Context, bucket: str, exc: Exception) -> None:
        """CreateBucket failed: the name is another account's, or (BucketAlreadyOwnedByYou) the bucket exists in this
        account, which is the stack's only when it carries the stack's tag."""
        if is_code(exc, "BucketAlreadyExists"):
            raise AwsError(f"the bucket name {bucket} is taken by another account",
                           "choose another name with --bucket") from None
        if not is_code(exc, "BucketAlreadyOwnedByYou"):
            raise translate(exc, f"creating bucket {bucket}") from exc
        if ownership(ctx, bucket) != "ours":  # made meanwhile, but not by us
            raise self._not_made(ctx, bucket) from None

    def _not_made(self, ctx: Context, bucket: str) -> AwsError:
        # us-east-1 answers 200 OK to a CreateBucket of a bucket the account already owns, where every other region
        # answers BucketAlreadyOwnedByYou (botocore's s3 model, BucketAlreadyOwnedByYou): a 200 there is trusted only
        # once the bucket reads as this run left it, so another stack's bucket made meanwhile is never re-tagged.
        return AwsError(f"bucket {bucket} was made meanwhile, not by stack {ctx.config.stack}",
                        "choose another name with --bucket")

    def _made(self, ctx: Context, bucket: str) -> None:
        # What this run made (CreateBucket answered 200 and, in us-east-1, the bucket read as left): proven ours. In
        # the run's context, not on the step: STEPS' instances live as long as the process (tests, demo).
        ctx.seen["bucket_made"] = bucket
        # Made now, in this region and with no policy: what check() would read is known, but for the tags.
        # Block Public Access and default encryption are on for new buckets since 2023 (S3 User Guide, "Default
        # encryption", "Blocking public access"), but are set explicitly all the same, not read: two idempotent
        # puts, whatever the account's or an emulator's defaults.
        ctx.seen["bucket_new"] = bucket

    def check(self, ctx: Context) -> list[Drift]:
        s3 = ctx.aws.s3
        bucket = ctx.outputs["bucket"]
        if ctx.seen.get("bucket_new") == bucket:
            # Its tags are read all the same (an S3-compatible endpoint may drop CreateBucketConfiguration.Tags),
            # by repair, at once with the puts: the role and the function, which wait for the bucket, need not.
            return [Drift("confirm_tags", f"the tag {STACK_TAG}={ctx.config.stack} is confirmed on a new bucket"),
                    Drift("public_access_block", "Block Public Access is set on a new bucket"),
                    Drift("encryption", "default encryption is set on a new bucket"),
                    Drift("policy", "the bucket policy is missing: the bucket is not sealed")]
        drifts: list[Drift] = []
        location = location_region(ctx.remember(f"bucket_location:{bucket}", lambda: retry(
            ctx, f"reading the region of {bucket}", lambda: s3.get_bucket_location(Bucket=bucket),
            retry_if=lambda exc: is_code(exc, "NoSuchBucket"), waiting_for="the new bucket to be visible",
            timeout=60,
        )))
        if location != ctx.config.region:
            raise AwsError(f"bucket {bucket} is in {location}, but the stack is in {ctx.config.region}",
                           "a gateway endpoint reaches only buckets of its own region; choose another --bucket")
        if ctx.config.adopt:
            return check_adopted(ctx, bucket)
        tags, public_off, rules, current = at_once(
            ctx, *[lambda n=n, r=r: ctx.remember(f"{n}:{bucket}", lambda: r(ctx, bucket)) for n, r in _CHECKED.items()])
        tag, stack, pending = tags.get(STACK_TAG), ctx.config.stack, ctx.outputs.get("bucket_pending") == bucket
        if tag != stack and pending and not tag:
            drifts.append(Drift("tag_pending", f"the tag {STACK_TAG}={stack} is not on it: a run made it and "
                                               "stopped before tagging it"))
        elif tag != stack:
            drifts.append(Drift("tags", f"the tag {STACK_TAG}={stack} is missing" if not tag else
                                f"it carries the tag {STACK_TAG}={tag}, not {stack}"))
        elif pending:
            drifts.append(Drift("pending_record", "its tag is on; the state still records it as pending"))
        if public_off:
            drifts.append(Drift("public_access_block", "Block Public Access is not fully on"))
        if not rules:
            drifts.append(Drift("encryption", "default encryption is off"))
        if current is None:
            drifts.append(Drift("policy", "the bucket policy is missing: the bucket is not sealed"))
        elif canonical(current) != canonical(seal(ctx, bucket)):
            drifts.append(Drift("policy", "the bucket policy differs from the seal to the endpoint"))
        return drifts

    def repair(self, ctx: Context, drifts: list[Drift]) -> None:
        s3 = ctx.aws.s3
        bucket = ctx.outputs["bucket"]
        ctx.unsee("bucket_new", *[f"{name}:{bucket}" for name in _CHECKED])
        if ctx.config.adopt:
            repair_adopted(ctx, bucket, drifts)
            return
        keys = {drift.key for drift in drifts}
        if keys & {"tags", "tag_pending"}:
            self._tag_recorded(ctx, bucket, "tag_pending" in keys, sealed="policy" not in keys)
        if keys & {"tags", "tag_pending", "pending_record"}:
            ctx.record("bucket", bucket)
            ctx.forget("bucket_pending")
        # Block Public Access, default encryption and the seal are independent of each other: set at once. (The
        # seal is no public policy, so BlockPublicPolicy never refuses it: S3 User Guide, "The meaning of public".)
        puts = []
        if "public_access_block" in keys:
            puts.append(lambda: call(f"blocking public access to {bucket}", s3.put_public_access_block,
                                     retry_not_found=ctx, Bucket=bucket, PublicAccessBlockConfiguration=_BLOCK_ALL))
        if "encryption" in keys:
            puts.append(lambda: call(f"turning on default encryption of {bucket}", s3.put_bucket_encryption,
                                     retry_not_found=ctx, Bucket=bucket, ServerSideEncryptionConfiguration=_ENCRYPTION))
        if "confirm_tags" in keys and bucket == ctx.seen.get("bucket_made"):
            puts.append(lambda: self._confirm_tags(ctx, bucket))
        if "policy" in keys:
            puts.append(lambda: call(f"sealing {bucket} to the endpoint", s3.put_bucket_policy, retry_not_found=ctx,
                                     Bucket=bucket, Policy=json.dumps(seal(ctx, bucket))))
        at_once(ctx, *puts)

    def _tag_recorded(self, ctx: Context, bucket: str, pending: bool, *, sealed: bool) -> None:
        """The stack's tag on a recorded bucket that lacks it, when that is proven right; else refused, saying why.

        The tag is the proof of ownership `down` relies on: s3gw puts it only on a bucket this run made, on one a run
        made and left untagged (pending, untouched), or when the user confirms with --retag-bucket that the bucket the
        state records as the stack's is (its tag removed from outside: PutBucketTagging stays open under the seal)."""
        if bucket == ctx.seen.get("bucket_made"):
            # Made by this very run, so ours: an endpoint that drops CreateBucket's tags (not AWS) gets them here.
            call(f"tagging {bucket}", ctx.aws.s3.put_bucket_tagging, retry_not_found=ctx, Bucket=bucket,
                 Tagging={"TagSet": ctx.tags(bucket)})
            return
        if pending and untouched(ctx, bucket):
            ctx.progress(f"tagging {bucket}: a run made it and stopped before tagging it, and it is untouched since")
            tag_again(ctx, bucket, {})
            return
        tags = bucket_tags(ctx, bucket)
        if not tags.get(STACK_TAG) and ctx.config.retag_bucket:
            ctx.progress(f"tagging {bucket} again ({STACK_TAG}={ctx.config.stack}): --retag-bucket confirms it is "
                         "the stack's")
            tag_again(ctx, bucket, tags)
            return
        raise lost_tag(ctx, bucket, tags, sealed=sealed)

    def _confirm_tags(self, ctx: Context, bucket: str) -> None:
        """A bucket this run made (so ours) carries the stack's tag, put now if CreateBucket's was dropped."""
        tags = call(f"reading the tags of {bucket}", bucket_tags, ctx, bucket, retry_not_found=ctx) or {}
        if tags.get(STACK_TAG) == ctx.config.stack:
            return
        if tags.get(STACK_TAG):  # another stack's tag, put meanwhile: never overwritten (the tag is the proof)
            raise lost_tag(ctx, bucket, tags, sealed=False)
        call(f"tagging {bucket}", ctx.aws.s3.put_bucket_tagging, retry_not_found=ctx, Bucket=bucket,
             Tagging={"TagSet": ctx.tags(bucket)})

    def delete(self, ctx: Context) -> bool:
        bucket = ctx.outputs.get("bucket") or ctx.outputs.get("bucket_pending")
        if not bucket:
            return False
        if ctx.config.adopt:
            release_adopted(ctx, bucket)
            ctx.forget("bucket")
            ctx.forget("bucket_pending")
            return False
        owner = ownership(ctx, bucket)
        if owner == "foreign" and pending_proven(ctx, bucket):
            owner = "ours"  # made by a run that stopped before tagging it, untouched since (see untouched())
        if owner == "foreign":
            raise self._disowned(ctx, bucket)
        if owner == "unknown":
            raise NotOwned(f"not emptying or deleting bucket {bucket}: S3 refuses to show its tags, so it is not "
                           "proven the stack's", "check s3:GetBucketTagging, then run 'down' again")
        deleted = owner == "ours"  # else "gone"
        if owner == "ours":
            s3 = ctx.aws.s3
            try:
                # The policy first: while it stands, it refuses our own object calls. S3 bucket configuration
                # is eventually consistent (S3 User Guide, "Amazon S3 data consistency model": a deleted bucket
                # policy can still apply for a moment), so AccessDenied right after is waited out, bounded.
                s3.delete_bucket_policy(Bucket=bucket)
                retry(ctx, f"emptying {bucket}", lambda: empty_bucket(ctx, bucket),
                      retry_if=lambda exc: is_code(exc, "AccessDenied"),
                      waiting_for="the deleted bucket policy to stop applying", timeout=POLICY_GONE_WAIT,
                      first_delay=0.5)
                s3.delete_bucket(Bucket=bucket)
            except Exception as exc:
                if not is_code(exc, *_MISSING):
                    raise translate(exc, f"deleting bucket {bucket}") from exc
                deleted = False  # deleted by someone else meanwhile
        ctx.forget("bucket")
        ctx.forget("bucket_pending")
        return deleted

    def _disowned(self, ctx: Context, bucket: str) -> NotOwned:
        """Not the stack's by its tag: dropped from the state, never emptied or deleted; what the state said of it,
        and the way on when it is the stack's after all."""
        tags = bucket_tags(ctx, bucket)
        made = ctx.outputs.get("bucket") == bucket
        ctx.forget("bucket")
        ctx.forget("bucket_pending")
        stack, other = ctx.config.stack, tags.get(STACK_TAG)
        line = f"not emptying or deleting bucket {bucket}: it lacks the tag {STACK_TAG}={stack}"
        if other:
            return NotOwned(f"{line} (it is stack {other}'s; dropped from the state)", "it was never this stack's")
        said = ("though the state records that stack {stack} made it (was the tag removed?)" if made else
                "though a run of stack {stack} made it and stopped before tagging it: it was changed since (a tag, "
                "policy or object), so it is not proven the stack's").format(stack=stack)
        return NotOwned(f"{line}, {said}; dropped from the state, left as it is",
                        f"if it is the stack's, add the tag {STACK_TAG}={stack} to it and run 's3gw down --from-tags'")


def unseal(ctx: Context, bucket: str) -> None:
    """`s3gw unseal`: only the bucket policy goes (of an adopted bucket, only s3gw's statements); already gone
    counts as done."""
    if ctx.config.adopt:
        release_adopted(ctx, bucket)
        return
    try:
        ctx.aws.s3.delete_bucket_policy(Bucket=bucket)
    except Exception as exc:
        if is_code(exc, "NoSuchBucket"):
            raise AwsError(f"bucket {bucket} does not exist", "run 's3gw up' to make it again") from None
        raise translate(exc, f"removing the policy of {bucket}") from exc


def empty_bucket(ctx: Context, bucket: str) -> int:
    """Delete every object version and delete marker (a versioned bucket keeps them all); return the count."""
    s3 = ctx.aws.s3
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        batch = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                 for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(batch), 1000):
            chunk = batch[start:start + 1000]
            answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise ClientError({"Error": {"Code": first.get("Code", ""), "Message": (
                    f"{first.get('Message')} ({len(answer['Errors'])} of {plural(len(chunk), 'key')}, "
                    f"e.g. {first.get('Key')})"
                )}}, "DeleteObjects")
            deleted += len(chunk)
    if deleted:
        ctx.progress(f"emptied {bucket}: {plural(deleted, 'object version')} deleted")
    return deleted


def count_object_versions(ctx: Context, bucket: str) -> int | None:
    """How many object versions and delete markers `down` would delete; None when S3 will not list them
    from here (the seal's Deny, a missing permission) or the bucket is already gone."""
    count = 0
    try:
        for page in ctx.aws.s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            count += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
    except Exception as exc:
        if is_code(exc, "AccessDenied", "403", "Forbidden", *_MISSING):
            return None
        raise translate(exc, f"counting the object versions in {bucket}") from exc
    return count


# --- a bucket the user brought (--bucket NAME --adopt) --------------------------------------------------------
# s3gw never makes, tags, empties or deletes it, and leaves its other settings (public access, encryption, tags)
# as they are: it only adds its seal's statements to the policy, and `down` takes exactly those back out.


def find_adopted(ctx: Context, bucket: str) -> dict[str, Any] | None:
    try:
        ctx.aws.s3.get_bucket_location(Bucket=bucket)
    except Exception as exc:
        if is_code(exc, *_MISSING):
            raise UsageError(f"bucket {bucket} does not exist: --adopt uses an existing bucket",
                             "create it first, or leave out --adopt to let s3gw make (and own) it") from None
        if is_code(exc, "403", "AccessDenied", "Forbidden"):
            raise AwsError(f"bucket {bucket} is another account's, or you may not read it",
                           "--adopt takes a bucket of this account") from None
        raise translate(exc, f"checking bucket {bucket}") from exc
    return {"bucket": bucket}


def _role_arn(ctx: Context) -> str:
    # The role step runs after this one; its ARN is known from its name.
    return f"arn:{ctx.aws.partition}:iam::{ctx.aws.account}:role/{ctx.config.role_name}"


def adoption_conflicts(ctx: Context, bucket: str, merged: dict[str, Any]) -> list[str]:
    """What would make the merged policy fail: the user's own Deny refusing the function through the endpoint
    (S3 evaluates every statement, and an explicit Deny wins: IAM User Guide, "Policy evaluation logic"), or a
    document over S3's 20 KB limit."""
    problems = []
    size = len(json.dumps(merged, separators=(",", ":")).encode())
    if size > POLICY_SIZE_LIMIT:
        problems.append(f"the policy with s3gw's statements is {size} bytes, over S3's {POLICY_SIZE_LIMIT}-byte limit")
    role_arn, account = _role_arn(ctx), ctx.aws.account
    caller = f"arn:{ctx.aws.partition}:sts::{account}:assumed-role/{ctx.config.role_name}/{ctx.config.function_name}"
    through = {"aws:SourceVpce": ctx.outputs.get("endpoint_id") or "vpce-to-be-made",
               "aws:SourceVpc": ctx.outputs.get("vpc_id"), "aws:SecureTransport": True,
               "aws:PrincipalArn": role_arn, "aws:PrincipalAccount": account}
    for action in FUNCTION_ACTIONS:
        request = Request(action, action_resource(action, bucket, ctx.aws.partition), caller, account, through)
        try:
            decision = decide(request, resource_policy=merged)
        except ValueError as exc:
            return [*problems, f"the bucket's policy cannot be evaluated: {exc}"]
        if decision.effect == "Deny":
            problems.append(f"the bucket's own policy denies the function {action} through the endpoint "
                            f"(statement {decision.statement})")
    return problems


def check_adopted(ctx: Context, bucket: str) -> list[Drift]:
    current = policy_text(ctx, bucket)
    # plan before the endpoint exists: its id is not known, but what the user's statements would refuse is.
    sealed = seal(ctx, bucket, ctx.outputs.get("endpoint_id") or "vpce-to-be-made")
    wanted = own_statements(sealed)
    drifts = []
    if canonical({"Statement": own_part(current)}) != canonical({"Statement": wanted}):
        drifts.append(Drift("policy", "s3gw's statements are not in the bucket policy" if not own_part(current)
                            else "s3gw's statements in the bucket policy differ from the seal to the endpoint"))
    problems = adoption_conflicts(ctx, bucket, merge_seal(current, sealed))
    drifts += [Drift("conflict", problem) for problem in problems]
    return drifts


def _refuse_conflicts(bucket: str, conflicts: list[str]) -> None:
    if conflicts:
        raise AwsError(f"not sealing adopted bucket {bucket}: " + "; ".join(conflicts),
                       "change those statements of the bucket policy (or shorten it), then run 'up' again")


def repair_adopted(ctx: Context, bucket: str, drifts: list[Drift]) -> None:
    _refuse_conflicts(bucket, [d.detail for d in drifts if d.key == "conflict"])
    if not any(d.key == "policy" for d in drifts):
        return
    # Read again right before the put: S3 has no conditional PutBucketPolicy, so the window in which another
    # writer's change would be lost is kept to these two calls (Terraform's overwrite: terraform-provider-aws#409).
    current = policy_text(ctx, bucket)
    merged = merge_seal(current, seal(ctx, bucket))
    _refuse_conflicts(bucket, adoption_conflicts(ctx, bucket, merged))  # as the policy is now, not as check read it
    if "policy_before" not in adoption(ctx):  # recorded before the put: `down` puts back this very text
        record_adoption(ctx, policy_before=current or "")
    call(f"adding s3gw's statements to the policy of {bucket}", ctx.aws.s3.put_bucket_policy, retry_not_found=ctx,
         Bucket=bucket, Policy=json.dumps(merged))


def release_adopted(ctx: Context, bucket: str) -> None:
    """Take s3gw's statements out of the policy: the rest stays as it was; no statement left, no policy. The
    bucket and its objects are never touched."""
    s3 = ctx.aws.s3
    before = adoption(ctx).get("policy_before")
    try:
        current = policy_text(ctx, bucket)
        if own_part(current):
            rest = strip_seal(current)
            if rest is None:
                s3.delete_bucket_policy(Bucket=bucket)
            elif before and statements_of(before) == statements_of(rest):
                # Nobody changed the rest meanwhile: the very text the bucket had (its layout, a lone statement
                # not in a list), not merely an equivalent one.
                s3.put_bucket_policy(Bucket=bucket, Policy=before)
            else:
                s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(rest))
    except Exception as exc:
        if not is_code(exc, "NoSuchBucket"):
            raise translate(exc, f"taking s3gw's statements out of the policy of {bucket}") from exc
    if before is not None:
        record_adoption(ctx, policy_before=None)


# --- what the seal would cut on an adopted bucket (--adopt), said before the seal is written -------------------
# Server access logs are delivered by the logging.s3.amazonaws.com service principal and Inventory reports by
# s3.amazonaws.com (S3 User Guide, "Enabling Amazon S3 server access logging", "Configuring Amazon S3 Inventory":
# the target bucket's policy grants that principal s3:PutObject); neither comes through the endpoint, so the seal
# refuses them unless --allow-aws-services (policy.bucket_policy). Replication reads the source as the IAM role
# named in its configuration (S3 User Guide, "Setting up permissions for live replication"): a service role, which
# the data-perimeter samples exempt by its ARN, not by aws:PrincipalIsAWSService; so --allow-principal ROLE.
# Only the deliveries into this bucket are cut: logs or reports it sends to another bucket are written by S3 there.


def services_cut(ctx: Context, bucket: str) -> list[str]:
    """For `plan` and `up --adopt`, before the seal is written: the bucket's logging, Inventory and replication,
    and the AWS services its policy grants, that the seal (as asked: --allow-principal, --allow-aws-services)
    would refuse. Reads only; a read the bucket refuses is named, not fatal."""
    current = policy_text_or_none(ctx, bucket)
    sealed = seal(ctx, bucket, ctx.outputs.get("endpoint_id") or "vpce-to-be-made")
    lines: list[str] = []
    refused: list[str] = []
    hint = "; --allow-aws-services lets it through"

    def read(what: str, fn: Callable[[], Any], missing: str = "") -> Any:
        try:
            return fn()
        except Exception as exc:
            if missing and is_code(exc, missing):
                return None
            if is_code(exc, "AccessDenied", "403", "Forbidden", *_MISSING):
                refused.append(what)  # the seal already on it refuses the read from here; or no permission
                return None
            raise translate(exc, f"reading the {what} of {bucket}") from exc

    s3 = ctx.aws.s3
    logging, replication, inventories = at_once(
        ctx,
        lambda: read("logging", lambda: s3.get_bucket_logging(Bucket=bucket)),
        lambda: read("replication", lambda: s3.get_bucket_replication(Bucket=bucket),
                     "ReplicationConfigurationNotFoundError"),
        lambda: read("Inventory configurations", lambda: _inventories(ctx, bucket)))
    denied = lambda request: decide(request, resource_policy=sealed).effect == "Deny"  # noqa: E731
    bucket_arn, _ = bucket_arns(bucket, ctx.aws.partition)
    target = ((logging or {}).get("LoggingEnabled") or {}).get("TargetBucket")
    delivery = Request("s3:PutObject", f"{bucket_arn}/log", "logging.s3.amazonaws.com")
    if target == bucket and denied(delivery):
        lines.append(f"server access logging of {bucket} delivers into {bucket} itself (logging.s3.amazonaws.com): "
                     f"the seal refuses it{hint}")
    for inventory in inventories or []:
        destination = ((inventory.get("Destination") or {}).get("S3BucketDestination") or {}).get("Bucket")
        report = Request("s3:PutObject", f"{bucket_arn}/inventory", "s3.amazonaws.com")
        if destination == bucket_arn and denied(report):
            lines.append(f"Inventory configuration {inventory.get('Id')} writes its reports into {bucket} "
                         f"(s3.amazonaws.com): the seal refuses them{hint}")
    config = (replication or {}).get("ReplicationConfiguration") or {}
    role, rules = str(config.get("Role") or ""), [r for r in config.get("Rules") or [] if r.get("Status") == "Enabled"]
    session = f"{role.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/').split('/')[0]}/" \
              f"{role.rsplit('/', 1)[-1]}/s3-replication"
    read_as_role = Request("s3:GetObjectVersionForReplication", f"{bucket_arn}/x", session,
                           role.split(":")[4] if role.count(":") >= 5 else "", {"aws:PrincipalArn": role})
    if rules and denied(read_as_role):
        to = sorted({str((r.get("Destination") or {}).get("Bucket", "")).removeprefix("arn:aws:s3:::") for r in rules})
        lines.append(f"replication of {bucket} ({len(rules)} rule(s), to {', '.join(to)}) reads it as the role "
                     f"{role}, from outside the endpoint: the seal refuses it; exempt that role with "
                     f"--allow-principal {role}")
    for stmt in statements_of(current):
        services = (stmt.get("Principal") or {}).get("Service") if isinstance(stmt.get("Principal"), dict) else None
        if stmt.get("Effect") != "Allow" or not services:
            continue
        actions = [a for a in _strings(stmt.get("Action")) if "*" not in a] or ["s3:PutObject"]
        resource = next((r for r in _strings(stmt.get("Resource")) if "*" not in r), f"{bucket_arn}/x")
        for service in _strings(services):
            cut = [a for a in actions if denied(Request(a, resource, service))]
            if cut:
                lines.append(f"the bucket policy lets {service} {', '.join(cut)} (statement "
                             f"{stmt.get('Sid') or 'without a Sid'}): the seal refuses that service{hint}")
    if refused and not own_part(current):  # once sealed, s3gw's own seal refuses these reads: checked before it
        lines.append(f"could not read the bucket's {', '.join(refused)}: check yourself what AWS services deliver "
                     f"to or read {bucket} (the seal refuses those that do not come through the endpoint)")
    return lines


def policy_text_or_none(ctx: Context, bucket: str) -> str | None:
    try:
        return policy_text(ctx, bucket)
    except Exception as exc:
        if is_code(exc, "AccessDenied", "403", "Forbidden", *_MISSING):
            return None
        raise translate(exc, f"reading the policy of {bucket}") from exc


def _inventories(ctx: Context, bucket: str) -> list[dict[str, Any]]:
    """Every Inventory configuration (ListBucketInventoryConfigurations pages by ContinuationToken, 100 a page)."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = ctx.aws.s3.list_bucket_inventory_configurations(Bucket=bucket, **(
            {"ContinuationToken": token} if token else {}))
        found += page.get("InventoryConfigurationList") or []
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return found


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)] if value else []
