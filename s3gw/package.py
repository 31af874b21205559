"""A deterministic zip of s3gw/function_code/ (the handler, shipped as package data).

The same source always gives the same bytes and CodeSha256.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path

HANDLER_DIR = Path(__file__).resolve().parent / "function_code"
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
