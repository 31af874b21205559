"""The wheel installs only the s3gw package (the function's handler inside it); the sdist carries the tests."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


# The light sandbox: what `pip install '.[sandbox]'` brings, resolved from the installed distributions' metadata
# (offline; the test extra installs all of it). bench/sandbox_footprint.py measures a fresh venv.
HEAVY = {"docker", "cfn-lint", "sympy", "networkx", "pydantic", "aws-xray-sdk", "graphql-core",
         "openapi-spec-validator",
         "joserfc", "antlr4-python3-runtime", "jsonpath-ng", "py-partiql-parser"}


def declared(extra: str) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["optional-dependencies"][extra])


def sandbox_distributions() -> set[str]:
    """Every distribution `pip install '.[sandbox]'` installs, s3gw included (canonical names)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = {"s3gw"}
    todo = [Requirement(text) for text in [*project["dependencies"], *declared("sandbox")]]
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if (name, frozenset(requirement.extras)) in done:
            continue
        done.add((name, frozenset(requirement.extras)))
        found.add(name)
        for text in metadata.requires(requirement.name) or []:
            needed = Requirement(text)
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra})
                                            for extra in {"", *requirement.extras}):
                todo.append(needed)
    return found


def test_the_sandbox_extra_brings_at_most_30_dependencies_and_none_of_moto_servers_heavy_ones() -> None:
    brought = sandbox_distributions()
    assert not brought & HEAVY, sorted(brought & HEAVY)
    assert len(brought - {"s3gw"}) <= 30, sorted(brought)  # 30 today: moto's werkzeug_app needs the Flask five
    assert set(declared("sandbox")) <= set(declared("test"))  # the tests run what the sandbox runs


_ONLY_THE_SANDBOX_EXTRA = r"""
import importlib.abc, sys
from importlib import metadata
allowed, = sys.argv[1:]
allowed = set(allowed.split(","))
owners = metadata.packages_distributions()
blocked = {name for name, dists in owners.items() if name not in sys.stdlib_module_names
           and not {d.lower().replace("_", "-").replace(".", "-") for d in dists} & allowed}
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"{fullname} is not installed by s3gw[sandbox]", name=fullname)
sys.meta_path.insert(0, Absent())
sys.argv = ["s3gw", "demo"]
from s3gw.cli import main
main()
"""


def test_demo_runs_with_only_what_the_sandbox_extra_installs(tmp_path: Path) -> None:
    # Every module of a distribution outside the extra's set is made absent, as in a venv with only s3gw[sandbox].
    brought = sandbox_distributions()
    done = subprocess.run([sys.executable, "-c", _ONLY_THE_SANDBOX_EXTRA, ",".join(sorted(brought))],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "demo: the private path works" in done.stdout


_ENDPOINT_SERVICES = r"""
import json, sys
from moto.ec2.models import vpcs
from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend
import s3gw.sandbox
listed = vpcs.VPCBackend._collect_default_endpoint_services("123456789012", "eu-west-1")
imported = sorted(name for name in sys.modules if name.startswith(("moto.cloudformation", "openapi_spec_validator")))
from moto.cloudformation.models import CloudFormationBackend
zones = [z.name for zs in RegionsAndZonesBackend.zones.values() for z in zs if z.name.startswith("eu-west-1")]
print(json.dumps({"listed": listed, "imported": imported,
                  "cloudformation": CloudFormationBackend.default_vpc_endpoint_service("eu-west-1", zones)}))
"""


def test_the_sandboxs_endpoint_services_list_cloudformation_as_moto_does_without_importing_it() -> None:
    done = subprocess.run([sys.executable, "-c", _ENDPOINT_SERVICES], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout)
    assert answer["imported"] == []  # moto imports its API Gateway (openapi-spec-validator, pydantic) for it
    def same(services: list[dict]) -> list[dict]:
        return [{k: v for k, v in service.items() if k != "ServiceId"} for service in services]  # a random id

    first = answer["listed"][:len(answer["cloudformation"])]
    assert same(first) == same(answer["cloudformation"])  # moto lists it first; the rest is moto's own list
    assert [s["ServiceName"] for s in answer["listed"]].count("com.amazonaws.eu-west-1.cloudformation") == 1
