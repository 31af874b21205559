"""The commands: one module per family, each reading top to bottom: open the Run (s3gw.run), do the work, return
a report (commands.reports) that cli.py renders. up.py, down.py, inspect.py (plan, status, outputs, leftovers),
state.py (state init/push/pull, unlock), invoke.py (test-invoke, invoke, logs), verify.py (verify, permissions).
"""

from s3gw.commands import down, inspect, invoke, reports, state, up, verify

__all__ = ["down", "inspect", "invoke", "reports", "state", "up", "verify"]
