"""Bad input, round 3 (issue 26: 17-20, 22): each refused with one line and exit 2 before any AWS call."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from s3gw.cli import cli
from s3gw.sandbox.behaviours import Behaviours


@pytest.mark.parametrize(("name", "value", "says"), [
    ("S3GW_SANDBOX_PENDING", "soon", "S3GW_SANDBOX_PENDING must be a number of seconds"),  # today: ValueError
    ("S3GW_SANDBOX_IAM_MESSAGE", "bogus", "S3GW_SANDBOX_IAM_MESSAGE must be one of"),  # today: ValueError
])
def test_the_sandbox_with_a_bad_setting_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name: str,
                                                                        value: str, says: str) -> None:
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["sandbox", "--port", "0"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in result.output, result.output


@pytest.mark.parametrize(("name", "value", "says"), [
    ("S3GW_SANDBOX_LATENCY_MS", "nan", "must be a finite number"),  # today: accepted, then every answer is a 500
    ("S3GW_SANDBOX_ENI_LINGER", "inf", "must be a finite number"),
    ("S3GW_SANDBOX_S3_CONFLICTS", "two", "must be a whole number"),
])
def test_sandbox_settings_without_a_bound_are_refused(name: str, value: str, says: str) -> None:
    with pytest.raises(ValueError, match=f"{name} {says}"):
        Behaviours.from_env({name: value})


def test_the_sandbox_reads_its_409_switch() -> None:
    assert Behaviours.from_env({"S3GW_SANDBOX_S3_CONFLICTS": "3"}).s3_conflicts == 3
