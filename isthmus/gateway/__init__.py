"""The ingress: REST (KServe V1, Open Inference Protocol V2) and V2 gRPC endpoints over one data plane."""

from isthmus.gateway.dataplane import Answer, DataPlane
from isthmus.gateway.server import GatewayServer
from isthmus.gateway.state import GatewayState

__all__ = ["Answer", "DataPlane", "GatewayServer", "GatewayState"]
