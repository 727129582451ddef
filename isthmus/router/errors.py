"""The router's one exception root."""


class RoutingError(Exception):
    """No variant can be chosen for this request; the message says why."""


class UnknownModel(RoutingError):
    pass


class UnknownVersion(RoutingError):
    pass


class UnknownVariant(RoutingError):
    """The override header names a variant that the route does not have."""
