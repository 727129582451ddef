"""Server-side TLS / mTLS contexts from the listener config."""

from __future__ import annotations

import ssl

from isthmus.config import ConfigError, ConfigIssue, TLSConfig


def server_ssl_context(tls: TLSConfig, source: str = "config") -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if tls.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        ctx.load_cert_chain(tls.cert, tls.key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError([ConfigIssue(source, None, "listener.tls.cert", f"cannot load cert/key: {exc}")]) from None
    if tls.client_ca:
        try:
            ctx.load_verify_locations(cafile=tls.client_ca)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                [ConfigIssue(source, None, "listener.tls.client_ca", f"cannot load CA bundle: {exc}")]
            ) from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
