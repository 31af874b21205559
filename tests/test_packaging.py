"""The wheel installs only the s3gw package (the function's handler inside it); the sdist carries the tests."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_has_no_top_level_handler_and_ships_it_inside_s3gw(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, cwd=tmp_path)
    [wheel] = tmp_path.glob("s3gw-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"s3gw"}, top_level
    assert "s3gw/function_code/handler.py" in names
    # every module of the source tree ships (pyproject lists the packages one by one: a new one must be added)
    sources = {f"s3gw/{path.relative_to(ROOT / 's3gw').as_posix()}" for path in (ROOT / "s3gw").rglob("*.py")}
    assert sources <= set(names), sorted(sources - set(names))


def test_sdist_carries_what_the_tests_need(tmp_path: Path) -> None:
    build = f"from setuptools import build_meta; build_meta.build_sdist({str(tmp_path)!r})"
    subprocess.run([sys.executable, "-c", build], check=True, capture_output=True, cwd=ROOT)
    [sdist] = tmp_path.glob("s3gw-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"tests/conftest.py", "tests/test_packaging.py", "bench/lifecycle.py",
            "s3gw/function_code/handler.py"} <= names
