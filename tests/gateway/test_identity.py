"""identity: one spelling of a certificate's subject whether it comes as DER (REST) or PEM (gRPC)."""

import ssl

import trustme
from cryptography import x509

from isthmus.gateway.identity import SubjectMemo, subject_of_der, subject_of_pem


def _pem(**subject) -> bytes:
    return trustme.CA().issue_cert("client@example.com", **subject).cert_chain_pems[0].bytes()


def test_der_and_pem_give_the_rfc4514_subject():
    pem = _pem(common_name="a,b", organization_name="Acme + Co", organization_unit_name="Zürich")
    der = ssl.PEM_cert_to_DER_cert(pem.decode())
    expected = x509.load_pem_x509_certificate(pem).subject.rfc4514_string()
    assert subject_of_der(der) == subject_of_pem(pem) == expected
    assert expected.startswith("CN=a\\,b,") and "O=Acme \\+ Co" in expected


def test_what_cannot_be_parsed_is_named_by_fingerprint_not_shared():
    a, b = subject_of_der(b"not a certificate"), subject_of_der(b"another one")
    assert a.startswith("sha256:") and b.startswith("sha256:") and a != b
    assert subject_of_pem(b"-----BEGIN nonsense").startswith("sha256:")


def test_memo_answers_like_the_parser_and_stays_bounded():
    memo = SubjectMemo(size=2)
    pems = [_pem(common_name=f"c{i}") for i in range(3)]
    assert [memo.of_pem(p) for p in pems] == [subject_of_pem(p) for p in pems]
    assert memo.of_pem(pems[0]) == subject_of_pem(pems[0])  # evicted, parsed again
    assert len(memo._subjects) == 2
