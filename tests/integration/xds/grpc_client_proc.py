"""A proxyless gRPC client in its own process (gRPC's xDS client is per process and reads
GRPC_XDS_BOOTSTRAP once). Each stdin line "N [VARIANT]" makes N calls (pinned by the override header when VARIANT is given) on ``xds:///<model>`` and prints the
JSON count of answers per backend name."""

from __future__ import annotations

import collections
import json
import sys

import grpc

from tests.integration.xds.peers import ECHO_METHOD


def main(target: str) -> None:
    channel = grpc.insecure_channel(target)
    who = channel.unary_unary(ECHO_METHOD)
    for line in sys.stdin:
        n, *variant = line.split()
        metadata = [("x-isthmus-variant", variant[0])] if variant else None
        counts: collections.Counter = collections.Counter()
        for _ in range(int(n)):
            try:
                counts[who(b"", timeout=10, wait_for_ready=True, metadata=metadata).decode()] += 1
            except grpc.RpcError as exc:  # counted as "CODE: details"
                counts[f"{exc.code().name}: {exc.details()}"] += 1
        print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
