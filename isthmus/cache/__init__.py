"""Result caching (in-process L1, Redis L2) and coalescing of identical in-flight requests."""
