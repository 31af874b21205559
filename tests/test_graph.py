"""The walker under `up` and `down`: needs first, at most N at once, failures stop (or not) and are reported the
same way every run."""

from __future__ import annotations

import threading
import time

import pytest

from s3gw.graph import walk

# A small copy of up's shape: two lanes from nothing, joined at the end.
NEEDS = {"vpc": (), "subnets": ("vpc",), "role": (), "bucket": (), "function": ("subnets", "role", "bucket")}


def test_one_worker_runs_every_node_in_the_table_order_in_the_calling_thread() -> None:
    ran: list[tuple[str, str]] = []
    walked = walk(NEEDS, lambda node: ran.append((node, threading.current_thread().name)), workers=1)
    assert [node for node, _ in ran] == list(NEEDS)
    assert {thread for _, thread in ran} == {threading.current_thread().name}
    assert walked.done == list(NEEDS) and not walked.failed


@pytest.mark.parametrize("workers", [2, 4])
def test_a_node_starts_only_after_all_it_needs_and_never_more_than_n_at_once(workers: int) -> None:
    lock = threading.Lock()
    finished: set[str] = set()
    running: list[int] = [0, 0]  # now, most at once

    def run(node: str) -> None:
        with lock:
            assert set(NEEDS[node]) <= finished, (node, finished)
            running[0] += 1
            running[1] = max(running[1], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
            finished.add(node)

    walked = walk(NEEDS, run, workers=workers)
    assert sorted(walked.done) == sorted(NEEDS) and not walked.failed
    assert running[1] <= workers
    assert running[1] >= 2  # vpc, role and bucket need nothing: they do run at once


def test_after_a_failure_nothing_new_starts_and_what_needs_it_is_skipped() -> None:
    started: list[str] = []

    def run(node: str) -> None:
        started.append(node)
        if node == "vpc":
            raise RuntimeError("vpc refused")

    walked = walk(NEEDS, run, workers=1)
    assert started == ["vpc"]
    assert list(walked.failed) == ["vpc"] and walked.skipped["subnets"] == "vpc"
    with pytest.raises(RuntimeError, match="vpc refused"):
        walked.raise_first()


def test_keep_going_runs_what_does_not_need_the_failed_node() -> None:
    def run(node: str) -> None:
        if node == "subnets":
            raise RuntimeError("no subnets")

    walked = walk(NEEDS, run, workers=2, keep_going=True)
    assert set(walked.done) == {"vpc", "role", "bucket"}
    assert walked.skipped == {"function": "subnets"}


def test_failures_are_reported_in_the_table_order_whatever_order_they_end_in() -> None:
    """Several lanes refused at once (an operator short of permissions): the error shown is the first step's,
    every run, not whichever answer came back first."""
    def run(node: str) -> None:
        time.sleep({"vpc": 0.2, "role": 0.0, "bucket": 0.1}.get(node, 0.0))
        raise RuntimeError(f"{node} refused")

    walked = walk(NEEDS, run, workers=3)
    assert list(walked.failed) == ["vpc", "role", "bucket"]
    with pytest.raises(RuntimeError, match="vpc refused"):
        walked.raise_first()


def test_a_graph_naming_a_node_it_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="subnetz"):
        walk({"vpc": (), "function": ("subnetz",)}, lambda node: None, workers=1)
