"""What Lambda does around a function's life that moto does not: Pending states and Lambda's ENIs.

- A function is Pending for `pending` seconds after CreateFunction (moto: Active at once), and an
  update stays InProgress as long; meanwhile Invoke (Pending) and further updates are refused.
- Lambda's Hyperplane ENIs, as AWS makes them: one per subnet + security-group combination, shared
  by every function with that same combination ("Lambda creates a Hyperplane ENI for each unique
  combination of subnet and security group ... and reuses it for functions that share it":
  https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#vpc-network-interfaces). Its
  description names the first function that used it, with nothing after the name
  (`AWS Lambda VPC ENI-<function>`), its interface type is `lambda`, and it is requester-managed
  (terraform-provider-aws matches them by the prefix `AWS Lambda VPC ENI` and the group:
  internal/service/ec2/vpc_network_interface.go, deleteLingeringLambdaENIs).
- When no function uses an ENI any more (DeleteFunction, or an update that moves the function off that
  subnet + group), it stays in-use for `eni_linger` seconds (on AWS up to ~20 min, P99 ~35 min per the
  Lambda team, as quoted in the provider's deleteLingeringLambdaENIs), then turns `available`. AWS
  itself removes an available one only much later: here it stays until deleted. With no linger an
  ENI goes at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import moto_glue as glue
from .behaviours import Behaviours

# (account, region, subnet, security groups): what makes one Hyperplane ENI
EniKey = tuple[str, str, str, frozenset[str]]


@dataclass
class FunctionRecord:
    # Deadlines, fixed by the behaviours in force at the event: switching them later changes nothing here.
    pending_until: float
    updating_until: float = 0.0


@dataclass
class SharedEni:
    eni_id: str
    users: set[str] = field(default_factory=set)  # the function names whose VpcConfig uses it


@dataclass(frozen=True)
class LingeringEni:
    account: str
    region: str
    eni_id: str
    in_use_until: float


class Functions:
    def __init__(self, behaviours: Callable[[], Behaviours]) -> None:
        self._behaviours = behaviours
        self._records: dict[tuple[str, str, str], FunctionRecord] = {}
        self._enis: dict[EniKey, SharedEni] = {}
        self._lingering: list[LingeringEni] = []
        self._lock = threading.RLock()

    # --- states -------------------------------------------------------------------------------

    def is_pending(self, account: str, region: str, name: str) -> bool:
        record = self._records.get((account, region, name))
        return record is not None and time.time() < record.pending_until

    def is_updating(self, account: str, region: str, name: str) -> bool:
        record = self._records.get((account, region, name))
        return record is not None and time.time() < record.updating_until

    def state_fields(self, account: str, region: str, name: str) -> dict[str, str]:
        """The state keys of a function configuration, where they differ from moto's Active/Successful."""
        if self.is_pending(account, region, name):
            return {
                "State": "Pending", "StateReason": "The function is being created.", "StateReasonCode": "Creating",
                "LastUpdateStatus": "InProgress", "LastUpdateStatusReason": "The function is being created.",
                "LastUpdateStatusReasonCode": "Creating",
            }
        if self.is_updating(account, region, name):
            return {"LastUpdateStatus": "InProgress", "LastUpdateStatusReason": "The function is being updated."}
        return {}

    # --- lifecycle events ---------------------------------------------------------------------

    def created(self, account: str, region: str, name: str, subnet_ids: list[str], group_ids: list[str]) -> None:
        with self._lock:
            self._records[(account, region, name)] = FunctionRecord(time.time() + self._behaviours().pending)
            self._attach(account, region, name, subnet_ids, group_ids)

    def updated(
        self, account: str, region: str, name: str, vpc: tuple[list[str], list[str]] | None = None
    ) -> None:
        """An update; with a new VpcConfig (subnets, groups) the function moves to the ENIs of that config."""
        with self._lock:
            record = self._records.setdefault((account, region, name), FunctionRecord(pending_until=0.0))
            record.updating_until = time.time() + self._behaviours().pending
            if vpc is not None:
                self._detach(account, region, name)
                self._attach(account, region, name, *vpc)

    def deleted(self, account: str, region: str, name: str) -> None:
        with self._lock:
            self._records.pop((account, region, name), None)
            self._detach(account, region, name)

    def settle_enis(self) -> None:
        """Lingering ENIs whose time is up turn available. Called before each EC2 request."""
        now = time.time()
        with self._lock:
            due = [e for e in self._lingering if e.in_use_until <= now]
            self._lingering = [e for e in self._lingering if e.in_use_until > now]
        for eni in due:
            glue.set_eni_status(eni.account, eni.region, eni.eni_id, "available")

    # --- the shared ENIs ----------------------------------------------------------------------

    def _attach(self, account: str, region: str, name: str, subnet_ids: list[str], group_ids: list[str]) -> None:
        if not group_ids:
            return
        for subnet_id in subnet_ids:
            key = (account, region, subnet_id, frozenset(group_ids))
            shared = self._enis.get(key)
            if shared is None or glue.eni_status(account, region, shared.eni_id) is None:
                shared = SharedEni(glue.create_lambda_eni(account, region, subnet_id, group_ids, name))
                self._enis[key] = shared
            shared.users.add(name)

    def _detach(self, account: str, region: str, name: str) -> None:
        for key, shared in list(self._enis.items()):
            if key[:2] != (account, region) or name not in shared.users:
                continue
            shared.users.discard(name)
            if not shared.users:
                del self._enis[key]
                self._release(account, region, shared.eni_id)

    def _release(self, account: str, region: str, eni_id: str) -> None:
        linger = self._behaviours().eni_linger
        if linger <= 0:
            glue.delete_eni(account, region, eni_id)
            return
        self._lingering.append(LingeringEni(account, region, eni_id, time.time() + linger))
