"""The router's one exception root."""


class RoutingError(Exception):
    """No variant can be chosen for this request; the message says why."""


class UnknownModel(RoutingError):
    pass


class UnknownVersion(RoutingError):
    pass


class UnknownVariant(RoutingError):
    """The override header names a variant that the route does not have."""


class UnknownLabel(RoutingError):
    """A TF Serving version label that names neither a version nor a variant of the route (TF Serving
    itself answers an unknown label INVALID_ARGUMENT, so this is a 400 like the other routing errors)."""
