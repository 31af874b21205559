"""The embedded AWS emulator: moto on 127.0.0.1, plus what s3gw needs and moto leaves out.

    from s3gw.sandbox import Sandbox, Behaviours
    with Sandbox(port=0, behaviours=Behaviours()) as sb:
        sb.endpoint_url  # "http://127.0.0.1:<port>"

Importing this package sets MOTO_IAM_LOAD_MANAGED_POLICIES=true before moto loads.
"""

from . import moto_glue as _moto_glue  # noqa: F401  (first: sets moto's environment before moto loads)
from .behaviours import Behaviours
from .server import Sandbox, serve

__all__ = ["Behaviours", "Sandbox", "serve"]
