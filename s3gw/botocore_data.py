"""botocore's own data, read from the files it ships: the regions and partitions, and one data loader for the
process. No AWS call and no credentials; botocore is imported inside the functions, so that importing this module
(config does, to validate a region) keeps `s3gw --help` fast."""

from __future__ import annotations

import functools
import os
import re
from typing import Any


@functools.lru_cache(maxsize=1)
def shared_loader() -> Any:
    """One botocore data loader for the process. Each botocore session makes its own, and each new loader parses
    the service JSON again (~60 ms per client); the loader caches what it has parsed, so sharing it makes every
    client after the first of its service cheap. It holds only parsed, read-only models."""
    from botocore.loaders import create_loader

    return create_loader(os.environ.get("AWS_DATA_PATH"))


def botocore_session(**variables: Any) -> Any:
    """A new botocore session (sessions are not shared: they are not thread-safe) on the shared loader."""
    import botocore.session

    session = botocore.session.get_session(variables or None)
    session.register_component("data_loader", shared_loader())
    return session


@functools.lru_cache(maxsize=64)
def partition_of(region: str) -> str:
    """The partition of a region (aws, aws-cn, aws-us-gov, …) from botocore's own endpoints data, whose
    regionRegex also places regions newer than this botocore."""
    for partition in _partitions():
        if region in partition["regions"]:
            return str(partition["partition"])
    for partition in _partitions():
        if partition["partition"] != "aws" and re.match(partition["regionRegex"], region):
            return str(partition["partition"])
    return "aws"


@functools.lru_cache(maxsize=1)
def _partitions() -> list[dict[str, Any]]:
    return list(botocore_session().get_data("endpoints")["partitions"])
