"""Walk a small dependency graph: each node runs once all it needs has succeeded, up to N at once.

No AWS here: the commands give the table (node -> nodes it needs) and what running a node means. With N = 1
every node runs in the calling thread, in the table's order: the order s3gw ran its steps before it ran any
at once. Otherwise nodes run in daemon threads, and the calling thread only schedules, and between results
calls `watch` with the ids of its threads (which may raise: a call in a worker that has gone unanswered too
long, see aws.overdue_call).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

Needs = dict[str, tuple[str, ...]]
WATCH_EVERY = 0.2  # seconds between looks at the workers' calls


@dataclass
class Walked:
    done: list[str] = field(default_factory=list)  # in the order they finished
    failed: dict[str, BaseException] = field(default_factory=dict)  # in the table's order
    skipped: dict[str, str] = field(default_factory=dict)  # node -> the failed (or skipped) node it needed

    def raise_first(self) -> None:
        for error in self.failed.values():
            raise error


def walk(needs: Needs, run: Callable[[str], None], *, workers: int, keep_going: bool = False,
         watch: Callable[[set[int]], None] = lambda threads: None) -> Walked:
    """Run every node of `needs` whose needs succeeded. After a failure no new node starts (those running
    finish, so that what they made is recorded) unless `keep_going`; a node that needs a failed one is skipped."""
    unknown = {need for node_needs in needs.values() for need in node_needs} - set(needs)
    if unknown:
        raise ValueError(f"the graph names nodes it does not have: {', '.join(sorted(unknown))}")
    walked = Walked()
    results: queue.Queue[tuple[str, BaseException | None]] = queue.Queue()
    waiting = list(needs)  # not started, in the table's order
    running: set[str] = set()
    threads: set[int] = set()  # the ids of the threads this walk started, for `watch`

    def work(node: str) -> None:
        threads.add(threading.get_ident())
        try:
            run(node)
        except Exception as exc:  # handed to the scheduling thread, which decides
            results.put((node, exc))
        except BaseException as exc:  # in a worker, Ctrl-C and the like too; in the calling thread they go on
            if workers <= 1:
                raise
            results.put((node, exc))
        else:
            results.put((node, None))

    while True:
        for node in list(waiting):
            blocked = [need for need in needs[node] if need in walked.failed or need in walked.skipped]
            if blocked:
                walked.skipped[node] = blocked[0]
                waiting.remove(node)
        stop = bool(walked.failed) and not keep_going
        ready = [] if stop else [node for node in waiting if all(need in walked.done for need in needs[node])]
        for node in ready[: max(workers - len(running), 0)]:
            waiting.remove(node)
            running.add(node)
            if workers <= 1:
                work(node)
            else:
                threading.Thread(target=work, args=(node,), name=f"s3gw-{node}", daemon=True).start()
        if not running:
            # Failures in the table's order, not the order they happened to end in: with several lanes refused at
            # once (an operator short of permissions), the error shown is the same every run, the first step's.
            walked.failed = {node: walked.failed[node] for node in needs if node in walked.failed}
            return walked
        try:
            node, error = results.get(timeout=WATCH_EVERY)
        except queue.Empty:
            watch(threads)
            continue
        running.discard(node)
        if error is None:
            walked.done.append(node)
        else:
            walked.failed[node] = error
