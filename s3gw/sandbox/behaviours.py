"""Real-AWS timing behaviours the sandbox can switch on (all off by default)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

ENV_IAM_DELAY = "S3GW_SANDBOX_IAM_DELAY"
ENV_PENDING = "S3GW_SANDBOX_PENDING"
ENV_ENI_LINGER = "S3GW_SANDBOX_ENI_LINGER"
ENV_ENFORCE_IAM = "S3GW_SANDBOX_ENFORCE_IAM"


@dataclass(frozen=True)
class Behaviours:
    iam_propagation: float = 0.0  # seconds a new role cannot be used by Lambda
    pending: float = 0.0  # seconds a new/updated function stays Pending (update: InProgress)
    eni_linger: float = 0.0  # seconds Lambda's ENIs stay in-use after DeleteFunction
    enforce_iam: bool = False  # IAM users' calls are checked against their policies (authorize.py)

    def __post_init__(self) -> None:
        for name in ("iam_propagation", "pending", "eni_linger"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be zero or more seconds, not {getattr(self, name)}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Behaviours:
        environ = os.environ if environ is None else environ
        return cls(
            iam_propagation=_seconds(environ, ENV_IAM_DELAY),
            pending=_seconds(environ, ENV_PENDING),
            eni_linger=_seconds(environ, ENV_ENI_LINGER),
            enforce_iam=environ.get(ENV_ENFORCE_IAM, "").strip().lower() in ("1", "true", "yes", "on"),
        )


def _seconds(environ: Mapping[str, str], name: str) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {text!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be zero or more seconds, not {text!r}")
    return value
