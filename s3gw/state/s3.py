"""The state in S3 (`--state s3://BUCKET/PREFIX`), shared by every machine, locked with conditional writes.

The design is Terraform's S3 back end lock file (`use_lockfile`, hashicorp/terraform#35625): no DynamoDB table,
S3 itself arbitrates. What S3 guarantees, from the PutObject API reference and the user guide's "How to prevent
object overwrites with conditional writes" (docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html):

- PutObject with `If-None-Match: *` writes only if the key does not exist, else 412 Precondition Failed. That is
  the lock: `PREFIX/<stack>.lock`, whose body names the holder.
- 409 ConditionalRequestConflict is not a lost race: S3 answers it while a conflicting write or delete of the same
  key is in flight, and botocore's S3 model (PutObject, IfMatch and IfNoneMatch) says "On a 409 failure you should
  retry". Every conditional request here is re-sent on 409 (bounded); only 412 means another run won.
- PutObject with `If-Match: <etag>` writes only if the object's ETag is still that one, else 412 (404 when the
  object is gone). That is every state write: `PREFIX/<stack>.json` with the ETag this run last read or wrote,
  so a run whose lock was force-removed can never overwrite the state of the run that took the lock next.
- DeleteObject with `If-Match: <etag>` deletes only if the current version is still that one, else 412 (user
  guide, "How to perform conditional deletes"; it needs s3:GetObject besides s3:DeleteObject): releasing a
  lock removes only the lock this run made, and `down` removes only the state it last wrote.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from typing import TYPE_CHECKING, Any

from s3gw.errors import AwsError, LockedError, StateConflict, StateError, UsageError, error_code, translate
from s3gw.state.holder import holder, holder_line, parse_holder, pid_alive_here
from s3gw.state.store import MAX_STATE_BYTES

if TYPE_CHECKING:
    from s3gw.config import StackConfig

# A lock older than this is reported as probably left by a dead run (never removed without `unlock --force`).
# Longer than any run s3gw makes with its default bounds: `down` waits at most 45 minutes for Lambda's ENIs.
STALE_AFTER = 2 * 3600

_REFUSED = ("PreconditionFailed", "412")
_IN_FLIGHT = ("ConditionalRequestConflict", "409")
CONFLICT_ATTEMPTS = 8  # 409 answers in a row before giving up: ~6 s of backoff at most
_MISSING = ("NoSuchKey", "404", "NotFound")


def split_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` → ("bucket", "some/prefix")."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


class S3Store:
    """`s3://BUCKET/PREFIX/<stack>.json` and its lock `PREFIX/<stack>.lock`."""

    def __init__(self, client: Any, bucket: str, prefix: str, stack: str) -> None:
        self.client = client
        self.bucket = bucket
        self.stack = stack
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        base = f"{prefix}/" if prefix else ""
        self.key = f"{base}{stack}.json"
        self.lock_key = f"{base}{stack}.lock"
        self._etag: str | None = None  # of the state this run last loaded or saved; None: there was none
        self._lock_etag: str | None = None  # of the lock this run holds

    @classmethod
    def for_config(cls, config: StackConfig) -> S3Store:
        from s3gw.aws import Aws

        assert config.state_url
        bucket, prefix = split_url(config.state_url)
        store = cls(Aws(config).client("s3"), bucket, prefix, config.stack)
        store.check_bucket()
        return store

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def lock_where(self) -> str:
        return f"s3://{self.bucket}/{self.lock_key}"

    def _call(self, doing: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except Exception as exc:
            if type(exc).__module__.startswith(("botocore", "boto3", "urllib3")):
                raise translate(exc, doing) from exc
            raise

    def _conditional(self, doing: str, method: str, **kwargs: Any) -> Any:
        """A conditional PutObject/DeleteObject, re-sent while S3 answers 409 ConditionalRequestConflict (another
        write or delete of the key in flight); any other error is the caller's to judge."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
            except Exception as exc:
                if error_code(exc) not in _IN_FLIGHT:
                    raise
            if attempt < CONFLICT_ATTEMPTS - 1:
                time.sleep(min(2.0, 0.05 * 2 ** attempt) * random.uniform(0.5, 1.0))
        raise AwsError(f"{doing}: S3 answered 409 ConditionalRequestConflict {CONFLICT_ATTEMPTS} times in a row "
                       "(another write or delete of the same key kept arriving)", "run the command again")

    def check_bucket(self) -> None:
        """The state bucket exists, keeps versions (an overwritten state can be restored) and is encrypted."""
        init = f"'s3gw state init s3://{self.bucket}' sets it up"
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                raise UsageError(f"state bucket {self.bucket} does not exist", f"create it: {init}") from None
            raise translate(exc, f"reaching the state bucket {self.bucket}") from exc
        versioning = self._call("reading the state bucket's versioning", "get_bucket_versioning")
        if versioning.get("Status") != "Enabled":
            raise UsageError(f"state bucket {self.bucket} does not keep versions (versioning is off)",
                             f"turn versioning on so that every state can be restored; {init}")
        try:
            rules = self.client.get_bucket_encryption(Bucket=self.bucket)[
                "ServerSideEncryptionConfiguration"]["Rules"]
        except Exception as exc:
            if error_code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
                raise translate(exc, "reading the state bucket's encryption") from exc
            rules = []
        if not rules:
            raise UsageError(f"state bucket {self.bucket} has no default encryption", init)

    # The state: compare-and-swap on the ETag.

    def load(self) -> str | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            if error_code(exc) in _MISSING:
                self._etag = None
                return None
            raise translate(exc, f"reading the state {self.where}") from exc
        data = answer["Body"].read(MAX_STATE_BYTES + 1)  # bounded, as the local state's read
        if len(data) > MAX_STATE_BYTES:
            raise StateError(f"state {self.where} is larger than {MAX_STATE_BYTES >> 20} MiB: not an s3gw state",
                             "restore an earlier version of it (the bucket keeps them)")
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise StateError(f"state {self.where} is not text (not UTF-8)",
                             "restore an earlier version of it (the bucket keeps them)") from None
        self._etag = answer["ETag"]
        return str(text)

    def save(self, text: str) -> None:
        condition = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
        try:
            answer = self._conditional(f"writing the state {self.where}", "put_object", Key=self.key,
                                       Body=text.encode(), ContentType="application/json", **condition)
        except Exception as exc:
            if error_code(exc) not in _REFUSED + _MISSING:
                raise translate(exc, f"writing the state {self.where}") from exc
            # botocore re-sends a write whose reply was lost: the first try may have written this very text.
            current = self._current()
            if current is None or current[0] != text:
                raise self._conflict() from None
            answer = {"ETag": current[1]}
        self._etag = answer["ETag"]

    def _current(self) -> tuple[str, str] | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:
            if error_code(exc) in _MISSING:
                return None
            raise translate(exc, f"reading the state {self.where}") from exc
        return answer["Body"].read(MAX_STATE_BYTES + 1).decode(errors="replace"), str(answer["ETag"])

    def remove(self) -> None:
        if self._etag is None:
            return
        try:
            self._conditional(f"deleting the state {self.where}", "delete_object", Key=self.key, IfMatch=self._etag)
        except Exception as exc:
            if error_code(exc) in _REFUSED:
                raise self._conflict() from None
            if error_code(exc) not in _MISSING:  # already gone (a re-sent delete meets its own work done)
                raise translate(exc, f"deleting the state {self.where}") from exc
        self._etag = None

    def _conflict(self) -> StateConflict:
        return StateConflict(
            f"the state {self.where} changed since this run read it (its lock was removed and another run "
            "took it?); this run stopped without writing",
            "run the command again: it reads the newer state",
        )

    # The lock: create-only on the key.

    def lock(self, command: str) -> None:
        me = {**holder(command), "id": uuid.uuid4().hex, "state": self.where}
        try:
            answer = self._conditional(f"taking the lock {self.lock_where}", "put_object", Key=self.lock_key,
                                       Body=json.dumps(me).encode(), ContentType="application/json", IfNoneMatch="*")
        except Exception as exc:
            if error_code(exc) not in _REFUSED:
                raise translate(exc, f"taking the lock {self.lock_where}") from exc
            info, etag = self.holder_info()
            if not info or info.get("id") != me["id"]:
                raise self._held(info) from None
            answer = {"ETag": etag}  # our own lock: the first try's reply was lost and botocore re-sent it
        self._lock_etag = answer["ETag"]

    def holder_info(self) -> tuple[dict[str, Any] | None, str | None]:
        """The lock's body and ETag, or (None, None) when there is no lock."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.lock_key)
        except Exception as exc:
            if error_code(exc) in _MISSING:
                return None, None
            raise translate(exc, f"reading the lock {self.lock_where}") from exc
        return parse_holder(answer["Body"].read(65536)) or {}, str(answer["ETag"])

    def _held(self, info: dict[str, Any] | None) -> LockedError:
        if info is None:  # released between our write and our read
            return LockedError(f"stack {self.stack!r} was being locked by another run", "run the command again")
        line = holder_line(self.stack, info)
        since = info.get("since")
        age = time.time() - since if isinstance(since, int | float) else None
        if age is not None:
            line += f", {_duration(age)} ago"
        force = f"'s3gw unlock --force --stack {self.stack} --state {self.url}'"
        if pid_alive_here(info) is False:
            return LockedError(line + "; that process is gone from this host",
                               f"if no other run is using the stack, remove the lock: {force}")
        if age is not None and age > STALE_AFTER:
            return LockedError(line + f"; older than {_duration(STALE_AFTER)}, longer than any s3gw run",
                               f"if that run is gone, remove the lock: {force}")
        return LockedError(line, "wait for it to finish")

    def unlock(self) -> None:
        etag, self._lock_etag = self._lock_etag, None
        if etag is None:
            return
        doing = f"releasing the lock {self.lock_where} (remove it with 's3gw unlock --force')"
        try:
            self._conditional(doing, "delete_object", Key=self.lock_key, IfMatch=etag)
        except Exception as exc:
            if isinstance(exc, AwsError):
                raise AwsError(exc.message, "if no run uses the stack now, remove the lock: 's3gw unlock --force'") \
                    from None
            if error_code(exc) in _REFUSED + _MISSING:
                return  # our lock was force-removed (and maybe taken since): never delete another run's lock
            raise translate(exc, doing) from exc

    def force_unlock(self) -> dict[str, Any] | None:
        """Remove the lock whoever holds it (as `terraform force-unlock`); return whom it named, None if none."""
        info, etag = self.holder_info()
        if info is None or etag is None:
            return None
        try:
            self._conditional(f"removing the lock {self.lock_where}", "delete_object", Key=self.lock_key, IfMatch=etag)
        except Exception as exc:
            if isinstance(exc, AwsError):
                raise
            if error_code(exc) in _REFUSED + _MISSING:
                raise LockedError(f"the lock {self.lock_where} changed while it was being removed",
                                  "run 's3gw unlock --force' again if it is still stale") from None
            raise translate(exc, f"removing the lock {self.lock_where}") from exc
        return info


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def state_bucket_policy(bucket: str, partition: str = "aws") -> dict[str, Any]:
    """TLS only: a state names every resource of a stack, so it never travels in clear text."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "S3gwStateTlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    }


def init_bucket(config: StackConfig, url: str, progress: Any) -> list[str]:
    """Create the state bucket, or finish one: versioned, SSE-S3 by default, Block Public Access, TLS only.

    Returns what it changed. An existing bucket policy keeps its other statements.
    """
    from s3gw.aws import Aws

    bucket, _ = split_url(url)
    aws = Aws(config)
    s3 = aws.client("s3")
    done: list[str] = []

    def call(doing: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(s3, method)(Bucket=bucket, **kwargs)
        except Exception as exc:
            raise translate(exc, doing) from exc

    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as exc:
        if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise translate(exc, f"reaching the state bucket {bucket}") from exc
        progress(f"creating state bucket {bucket}")
        where = {} if config.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": config.region}}
        call(f"creating the state bucket {bucket}", "create_bucket", **where)
        done.append("created")
    call("blocking public access", "put_public_access_block", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    if call("reading versioning", "get_bucket_versioning").get("Status") != "Enabled":
        call("turning versioning on", "put_bucket_versioning", VersioningConfiguration={"Status": "Enabled"})
        done.append("versioning on")
    call("turning default encryption on", "put_bucket_encryption", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    ours = state_bucket_policy(bucket, aws.partition)
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except Exception as exc:
        if error_code(exc) != "NoSuchBucketPolicy":
            raise translate(exc, "reading the state bucket's policy") from exc
        policy = {"Version": "2012-10-17", "Statement": []}
    statements = policy.get("Statement")
    if not isinstance(statements, list):
        statements = [statements] if statements else []
    kept = [s for s in statements if not (isinstance(s, dict) and s.get("Sid") == "S3gwStateTlsOnly")]
    if kept + ours["Statement"] != statements:
        call("writing the TLS-only policy", "put_bucket_policy",
             Policy=json.dumps({**policy, "Statement": kept + ours["Statement"]}))
        done.append("TLS-only policy")
    return done
