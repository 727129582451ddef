"""The cache layer's one exception root. Cache failures never reach the app: they fail open."""


class CacheError(Exception):
    """A cache tier could not answer (Redis down, slow, or answering garbage)."""


class RedisConnecting(CacheError):
    """Redis is still being connected to (in the background): a miss, not a failure."""
