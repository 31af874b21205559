"""What Lambda does around a function's life that moto does not: Pending states and Lambda's ENIs.

- A function is Pending for `pending` seconds after CreateFunction (moto: Active at once), and an
  update stays InProgress as long; meanwhile Invoke (Pending) and further updates are refused.
- A function with a VpcConfig gets one in-use ENI per subnet. After DeleteFunction they stay in-use
  for `eni_linger` seconds, then turn available (and stay until deleted); with no linger they go at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import moto_glue as glue
from .behaviours import Behaviours


@dataclass
class FunctionRecord:
    # Deadlines, fixed by the behaviours in force at the event: switching them later changes nothing here.
    pending_until: float
    updating_until: float = 0.0
    fails: bool = False  # `fail_pending`: once Pending is over, the function is Failed
    eni_ids: list[str] = field(default_factory=list)


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
        self._lingering: list[LingeringEni] = []
        self._lock = threading.Lock()

    # --- states -------------------------------------------------------------------------------

    def is_pending(self, account: str, region: str, name: str) -> bool:
        record = self._records.get((account, region, name))
        return record is not None and time.time() < record.pending_until

    def is_updating(self, account: str, region: str, name: str) -> bool:
        record = self._records.get((account, region, name))
        return record is not None and time.time() < record.updating_until

    def is_failed(self, account: str, region: str, name: str) -> bool:
        record = self._records.get((account, region, name))
        return record is not None and record.fails and not self.is_pending(account, region, name)

    def state_fields(self, account: str, region: str, name: str) -> dict[str, str]:
        """The state keys of a function configuration, where they differ from moto's Active/Successful."""
        if self.is_failed(account, region, name):
            # A VPC function whose ENIs could not be made ends Failed (Lambda developer guide, "Lambda function
            # states"; StateReasonCode values from botocore's Lambda model).
            return {
                "State": "Failed", "StateReasonCode": "EniLimitExceeded",
                "StateReason": "Lambda was not able to create an ENI in the VPC of the Lambda function because "
                               "the limit for Network Interfaces has been reached.",
                "LastUpdateStatus": "Failed", "LastUpdateStatusReasonCode": "EniLimitExceeded",
            }
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
        enis = [glue.create_lambda_eni(account, region, s, group_ids, name) for s in subnet_ids]
        with self._lock:
            behaviours = self._behaviours()
            pending_until = time.time() + behaviours.pending
            self._records[(account, region, name)] = FunctionRecord(pending_until, eni_ids=enis,
                                                                    fails=behaviours.fail_pending)

    def updated(
        self, account: str, region: str, name: str, vpc: tuple[list[str], list[str]] | None = None
    ) -> None:
        """An update; with a new VpcConfig (subnets, groups) Lambda swaps the function's ENIs."""
        with self._lock:
            record = self._records.setdefault((account, region, name), FunctionRecord(pending_until=0.0))
            record.updating_until = time.time() + self._behaviours().pending
            if vpc is None:
                return
            old, record.eni_ids = record.eni_ids, []
        self._release(account, region, old)
        subnet_ids, group_ids = vpc
        enis = [glue.create_lambda_eni(account, region, s, group_ids, name) for s in subnet_ids]
        with self._lock:
            record.eni_ids = enis

    def deleted(self, account: str, region: str, name: str) -> None:
        with self._lock:
            record = self._records.pop((account, region, name), None)
        if record is not None:
            self._release(account, region, record.eni_ids)

    def settle_enis(self) -> None:
        """Lingering ENIs whose time is up turn available. Called before each EC2 request."""
        now = time.time()
        with self._lock:
            due = [e for e in self._lingering if e.in_use_until <= now]
            self._lingering = [e for e in self._lingering if e.in_use_until > now]
        for eni in due:
            glue.set_eni_status(eni.account, eni.region, eni.eni_id, "available")

    def _release(self, account: str, region: str, eni_ids: list[str]) -> None:
        linger = self._behaviours().eni_linger
        if linger <= 0:
            for eni_id in eni_ids:
                glue.delete_eni(account, region, eni_id)
            return
        until = time.time() + linger
        with self._lock:
            self._lingering += [LingeringEni(account, region, e, until) for e in eni_ids]
