"""The wheel installs only the s3gw package (the function's handler inside it); the sdist carries the tests."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from s3gw import package

ROOT = Path(__file__).resolve().parent.parent


def build_sdist(into: Path) -> Path:
    build = f"from setuptools import build_meta; build_meta.build_sdist({str(into)!r})"
    subprocess.run([sys.executable, "-c", build], check=True, capture_output=True, cwd=ROOT)
    [sdist] = into.glob("s3gw-*.tar.gz")
    return sdist


def test_wheel_installs_one_top_level_package_with_the_handler_and_every_module_inside(tmp_path: Path) -> None:
    # Built from the sdist, as an installer does: a stale build/lib in the working tree cannot leak in.
    with tarfile.open(build_sdist(tmp_path / "sdist")) as archive:
        archive.extractall(tmp_path / "src", filter="data")
    [source] = (tmp_path / "src").iterdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
                   check=True, capture_output=True, cwd=tmp_path)
    [wheel] = tmp_path.glob("s3gw-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"s3gw"}, top_level
    assert "s3gw/lambda_handler/handler.py" in names
    # Every module of the source ships where it imports from (pyproject lists the packages one by one: a new one
    # must be added).
    modules = {f"s3gw/{path.relative_to(ROOT / 's3gw').as_posix()}" for path in (ROOT / "s3gw").rglob("*.py")}
    modules |= {f"s3gw/lambda_handler/{path.name}" for path in (ROOT / "lambda_handler").glob("*.py")}
    assert modules <= names, sorted(modules - names)


def test_the_function_zip_carries_the_top_level_lambda_handler() -> None:
    # Wherever the install puts s3gw.lambda_handler (the source dir when editable), it is lambda_handler/'s code.
    with zipfile.ZipFile(io.BytesIO(package.build_zip())) as archive:
        assert archive.namelist() == ["handler.py"]
        assert archive.read("handler.py") == (ROOT / "lambda_handler" / "handler.py").read_bytes()


def test_a_source_tree_without_an_install_finds_the_handler_beside_s3gw() -> None:
    # No site-packages (-S): no editable finder maps s3gw.lambda_handler; s3gw comes from the tree itself.
    found = subprocess.run([sys.executable, "-S", "-c", "from s3gw import package; print(package.HANDLER_DIR)"],
                           capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == ROOT / "lambda_handler"


def test_sdist_carries_what_the_tests_need(tmp_path: Path) -> None:
    with tarfile.open(build_sdist(tmp_path)) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"tests/conftest.py", "tests/test_packaging.py", "bench/lifecycle.py", "bench/sandbox_footprint.py",
            "lambda_handler/handler.py"} <= names
