"""The sandbox server: the app on 127.0.0.1, served by werkzeug in a thread."""

from __future__ import annotations

import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from . import moto_glue as glue
from .app import SandboxApp
from .behaviours import Behaviours
from .invoke import CodeCache, Runner
from .network import BlackHole

HOST = "127.0.0.1"
HOST6 = "::1"  # the same app, for the functions whose S3 calls take IPv6 (SandboxApp.network_position)
_one_at_a_time = threading.Lock()  # moto's backends are process-wide: two sandboxes would share them
# serve_forever checks for shutdown() between polls: its default 0.5 s made every stop wait ~0.5 s.
_POLL_INTERVAL = 0.05


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # one line per AWS call drowns the caller's own output


class Sandbox:
    """moto plus what s3gw needs moto to do (see DESIGN.md, "The sandbox").

    One per process at a time; starting resets moto's in-memory state. `behaviours` may be
    replaced while it runs: every request reads the current value.
    """

    def __init__(self, port: int = 0, behaviours: Behaviours | None = None) -> None:
        self.port = port
        self.behaviours = behaviours or Behaviours()
        self._server: BaseWSGIServer | None = None
        self._server6: BaseWSGIServer | None = None
        self._thread6: threading.Thread | None = None
        self._thread: threading.Thread | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._black_hole: BlackHole | None = None
        self._runner: Runner | None = None
        self._owns_process_slot = False

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return f"http://{HOST}:{self._server.server_port}"

    @property
    def endpoint_url6(self) -> str | None:
        """The app over IPv6, when this machine has ::1."""
        return None if self._server6 is None else f"http://[{HOST6}]:{self._server6.server_port}"

    def start(self) -> Sandbox:
        if not _one_at_a_time.acquire(blocking=False):
            raise RuntimeError("another sandbox is running in this process (moto's state is process-wide)")
        self._owns_process_slot = True
        try:
            glue.silence_moto_bucket_policy()
            glue.honour_create_bucket_tags()
            glue.page_list_buckets()
            glue.route_gateway_endpoint_tables()
            glue.answer_gone_endpoints_as_ec2()
            glue.model_s3_ipv6()  # after the two above: it wraps what they patched
            glue.model_regional_s3_ranges()
            glue.look_up_keys_in_existing_partitions()
            # Reset last: a backend that moto made earlier in this process (moto's own server, mock_aws) is made
            # again with the patches above (its AWS-managed prefix lists are made in its __init__).
            glue.reset()
            self._workdir = tempfile.TemporaryDirectory(prefix="s3gw-sandbox-")
            root = Path(self._workdir.name)
            (root / "code").mkdir()
            (root / "scratch").mkdir()
            self._black_hole = BlackHole()
            self._runner = Runner(CodeCache(root / "code"), root / "scratch")
            app = SandboxApp(lambda: self.endpoint_url, lambda: self.behaviours, self._runner, self._black_hole,
                             url6=lambda: self.endpoint_url6)
            self._server = make_server(HOST, self.port, app, threaded=True, request_handler=_QuietHandler)
            self._thread = threading.Thread(target=self._server.serve_forever, args=(_POLL_INTERVAL,),
                                            name="s3gw-sandbox", daemon=True)
            self._thread.start()
            try:  # a function's IPv6 calls really go over IPv6 (loopback); without ::1 they take 127.0.0.1
                self._server6 = make_server(HOST6, 0, app, threaded=True, request_handler=_QuietHandler)
            except OSError:
                self._server6 = None
            if self._server6 is not None:
                self._thread6 = threading.Thread(target=self._server6.serve_forever, args=(_POLL_INTERVAL,),
                                                 name="s3gw-sandbox-ipv6", daemon=True)
                self._thread6.start()
        except BaseException:
            self._release()
            raise
        return self

    def stop(self) -> None:
        for server, thread in ((self._server, self._thread), (self._server6, self._thread6)):
            if server is not None:
                server.shutdown()
            if thread is not None:
                thread.join()
        self._release()

    def _release(self) -> None:
        if self._runner is not None:
            self._runner.stop()
        for server in (self._server, self._server6):
            if server is not None:
                server.server_close()
        if self._black_hole is not None:
            self._black_hole.close()
        if self._workdir is not None:
            self._workdir.cleanup()
        self._server = self._thread = self._workdir = self._black_hole = self._runner = None
        self._server6 = self._thread6 = None
        if self._owns_process_slot:
            self._owns_process_slot = False
            _one_at_a_time.release()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def check_port(port: int) -> None:
    """Raise OSError when the port cannot be bound: werkzeug would print its own text and exit 1."""
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, port))


def serve(port: int, behaviours: Behaviours, ready: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM; `ready` gets the endpoint URL once requests are answered."""
    check_port(port)
    stopping = threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {}
    if in_main_thread:  # signal handlers can only be installed from the main thread
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stopping.set())
    try:
        with Sandbox(port, behaviours) as sandbox:
            ready(sandbox.endpoint_url)
            while not stopping.wait(0.5):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
