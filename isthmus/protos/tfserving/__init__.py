"""Generated TF Serving gRPC stubs (see isthmus/protos/README.md); regenerate with ../regenerate.sh."""
