"""The verified client certificate's identity (the default cache tenant), one spelling for every ingress.

REST (Python's ``ssl``) and gRPC (grpc's auth context) each have their own rendering of a peer's
subject (``commonName=a,organizationName=b`` vs ``CN=a,O=b``); used as they come, the same client
would be two cache tenants. Both ingresses hand the certificate itself (DER or PEM) here instead,
and get the subject as RFC 4514 renders it (``CN=a,O=Acme\\, Inc.``, most specific RDN first), from
``cryptography``'s parser. A certificate that parser refuses (the TLS stack verified it, so this
should not happen) is named by its SHA-256 fingerprint: still one tenant per certificate, never
a tenant shared with other clients.
"""

from __future__ import annotations

import hashlib
import ssl

from cryptography import x509

_FINGERPRINT_PREFIX = "sha256:"


def subject_of_der(der: bytes) -> str:
    """The RFC 4514 subject of a DER certificate (its SHA-256 fingerprint if it cannot be parsed)."""
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return _FINGERPRINT_PREFIX + hashlib.sha256(der).hexdigest()


def subject_of_pem(pem: bytes) -> str:
    """The subject of a PEM certificate, spelled exactly as :func:`subject_of_der` spells it."""
    text = pem.decode("ascii", errors="replace").strip()
    try:
        der = ssl.PEM_cert_to_DER_cert(text)
    except ValueError:  # not one PEM certificate: still one tenant per certificate
        return _FINGERPRINT_PREFIX + hashlib.sha256(pem).hexdigest()
    return subject_of_der(der)


class SubjectMemo:
    """Remembers the subjects of the last ``size`` certificates seen (PEM bytes -> subject).

    One per listener: a client sends the same certificate on every call, and parsing it costs
    ~15 us; a dict lookup costs nothing. When full, the oldest entry goes.
    """

    def __init__(self, size: int = 1024):
        self._size = size
        self._subjects: dict[bytes, str] = {}

    def of_pem(self, pem: bytes) -> str:
        subject = self._subjects.get(pem)
        if subject is None:
            subject = subject_of_pem(pem)
            if len(self._subjects) >= self._size:
                del self._subjects[next(iter(self._subjects))]
            self._subjects[pem] = subject
        return subject
