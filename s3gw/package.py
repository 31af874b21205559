"""A deterministic zip of the function's code: lambda_handler/ in the source, s3gw.lambda_handler when installed.

The same source always gives the same bytes and CodeSha256.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import zipfile
from pathlib import Path

from s3gw.errors import UsageError


def _handler_dir() -> Path:
    """Where s3gw.lambda_handler is: pyproject maps it to the top-level lambda_handler/, so a wheel ships it
    inside s3gw/ and an editable install finds it in the source tree. A source tree on sys.path without an
    install (or an editable install made before the mapping) has no such package: the directory is beside s3gw/."""
    spec = importlib.util.find_spec("s3gw.lambda_handler")
    if spec is not None and spec.origin:
        return Path(spec.origin).resolve().parent
    return Path(__file__).resolve().parent.parent / "lambda_handler"


HANDLER_DIR = _handler_dir()
SHIPPED_FILES = ("handler.py",)
HANDLER = "handler.handler"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: zip entries otherwise carry the file's mtime


def build_zip(source_dir: Path = HANDLER_DIR) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(SHIPPED_FILES):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (source_dir / name).read_bytes())
    return buffer.getvalue()


def code_sha256(data: bytes) -> str:
    """The digest the way Lambda reports it: base64 of the SHA-256 of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# The user's code (`up --code PATH`). Lambda takes at most 50 MB of zip in a direct upload (CreateFunction /
# UpdateFunctionCode ZipFile): "Deployment package (.zip file archive) size: 50 MB (zipped, when uploading through
# the Lambda API or SDKs)" (Lambda developer guide, "Lambda quotas":
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_DIRECT_UPLOAD = 50 * 1024 * 1024
# Left out of a directory's zip: bytecode (Lambda compiles its own), version control, s3gw's own state.
_NEVER_SHIPPED = ("__pycache__", ".git", ".s3gw")
IGNORE_FILE = ".s3gwignore"


class CodeError(UsageError):
    """The user's code cannot be packaged (no such path, not a zip, too big): one line, exit 2, nothing changed."""


def _ignored(relative: str, patterns: list[str]) -> bool:
    """A `.s3gwignore` line is a glob (fnmatch) matched against the path from PATH (`data/*.csv`) and against each
    of its parts (`*.pyc`, `tests`); blank lines and lines starting with # are skipped."""
    import fnmatch

    parts = relative.split("/")
    return any(fnmatch.fnmatchcase(relative, p) or any(fnmatch.fnmatchcase(part, p) for part in parts)
               for p in patterns)


def ignore_patterns(directory: Path) -> list[str]:
    path = directory / IGNORE_FILE
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines())
    return [line.rstrip("/") for line in lines if line and not line.startswith("#")]


def directory_files(directory: Path) -> list[str]:
    """The files a directory's zip holds, as sorted '/'-separated paths: every regular file (symbolic links
    followed) but __pycache__, .git, .s3gw and what .s3gwignore names."""
    import os

    patterns = ignore_patterns(directory)
    found = []
    for folder, subfolders, files in os.walk(directory, followlinks=False):
        base = Path(folder).relative_to(directory).as_posix()
        prefix = "" if base == "." else base + "/"
        subfolders[:] = [d for d in subfolders if d not in _NEVER_SHIPPED and not _ignored(prefix + d, patterns)]
        for name in files:
            relative = prefix + name
            if name != IGNORE_FILE and not _ignored(relative, patterns) and (Path(folder) / name).is_file():
                found.append(relative)
    return sorted(found)


def zip_directory(directory: Path) -> bytes:
    """Deterministic: sorted entries, a fixed timestamp, mode 0644 (0755 for what is executable by its owner)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in directory_files(directory):
            path = directory / relative
            info = zipfile.ZipInfo(relative, date_time=_EPOCH)
            info.external_attr = (0o755 if path.stat().st_mode & 0o100 else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def user_code(path: Path) -> bytes:
    """The zip for `up --code PATH`: a directory zipped deterministically, or a .zip as it is; refused (CodeError)
    when it is neither, or over Lambda's direct-upload limit."""
    if path.is_dir():
        data = zip_directory(path)
    elif path.is_file() and path.suffix.lower() == ".zip":
        data = path.read_bytes()
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise CodeError(f"--code {path} is not a zip archive")
    elif path.exists():
        raise CodeError(f"--code {path} is neither a directory nor a .zip")
    else:
        raise CodeError(f"--code {path}: no such file or directory")
    if len(data) > MAX_DIRECT_UPLOAD:
        raise CodeError(f"--code {path} zips to {len(data) / 2**20:.1f} MB, over Lambda's 50 MB limit for a direct "
                        "upload (the stack's bucket cannot stage it: its seal refuses Lambda's fetch from outside the "
                        "endpoint)", "make it smaller: leave files out with .s3gwignore, or move dependencies into a "
                        "Lambda layer")
    return data
