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
