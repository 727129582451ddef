"""`make bench`: the same V2 workload direct, through Isthmus, Envoy, nginx and a naive proxy."""
