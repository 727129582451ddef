"""The load tester's one exception root: every error it raises on purpose is a LoadTestError."""


class LoadTestError(Exception):
    """Bad options, an unusable target or workload, a failed worker, an invalid report."""
