"""The upstream layer, between the route and the backend client (as Envoy's cluster manager):
per backend, a cluster of endpoints with their state, which picks the endpoint each try goes to,
retries and hedges within a budget, and learns from every outcome (outlier detection, active
health checks, circuit breakers). Protocol clients (:mod:`isthmus.backends`) send to the
endpoint they are given. See docs/resilience.md.
"""
