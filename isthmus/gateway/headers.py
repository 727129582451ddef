"""Header names the gateway reads and writes, and request ids."""

import os
import re
from typing import Mapping

BACKEND_HEADER = "x-isthmus-backend"
REQUEST_ID_HEADER = "x-request-id"
NO_BACKEND = "-"
CACHE_HEADER = "x-isthmus-cache"

_VALID_ID = re.compile(r"[\x21-\x7e]{1,200}")


def request_id(headers: Mapping[str, str]) -> str:
    """The client's ``x-request-id`` when it is printable ASCII of at most 200 characters, else a new one."""
    rid = headers.get(REQUEST_ID_HEADER)
    if rid is None or not _VALID_ID.fullmatch(rid):
        rid = os.urandom(16).hex()
    return rid
