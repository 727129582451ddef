"""The codec layer's one exception root."""


class CodecError(ValueError):
    """A payload cannot be decoded, encoded or translated.

    The message names the problem (tensor, field, expected vs got) and is
    safe to show to the client: it becomes a 400 at the ingress edge, or a
    502 when it is a backend's response that could not be decoded.
    """
