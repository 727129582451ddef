"""Redaction of secrets from the config dump: examples, then properties over generated URLs and configs."""

from urllib.parse import quote

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from isthmus.admin.redact import REDACTED, is_secret_name, redact, redact_url
from isthmus.config import Config


@pytest.mark.parametrize(
    "url, expected",
    [
        ("redis://:s3cret@cache:6379/0", "redis://:REDACTED@cache:6379/0"),
        ("redis://alice:s3cret@cache:6379/0", "redis://alice:REDACTED@cache:6379/0"),
        ("rediss://alice:s3cret@cache:6380", "rediss://alice:REDACTED@cache:6380"),
        ("redis://tokenonly@cache:6379", "redis://REDACTED@cache:6379"),
        ("https://bob:pw@kserve.local/v2", "https://REDACTED@kserve.local/v2"),
        ("http://apitoken@10.0.0.1:8080", "http://REDACTED@10.0.0.1:8080"),
        ("http://u:p@[::1]:8080/x", "http://REDACTED@[::1]:8080/x"),
        ("redis://cache:6379/0?password=s3cret&db=1", "redis://cache:6379/0?password=REDACTED&db=1"),
        ("https://h/p?X-Amz-Signature=abc&x=1#frag", "https://h/p?X-Amz-Signature=REDACTED&x=1#frag"),
        ("https://h/p?access_token=abc", "https://h/p?access_token=REDACTED"),
        ("redis://:p@ss@cache:6379", "redis://:REDACTED@cache:6379"),  # unencoded '@' in the password
        ("redis://:pa/ss@cache:6379/0", "redis://:REDACTED@cache:6379/0"),  # unencoded '/'
        ("redis://u:pa#ss@cache", "redis://u:REDACTED@cache"),  # unencoded '#'
        ("alice:s3cret@10.0.0.5:26379", "alice:REDACTED@10.0.0.5:26379"),  # a sentinel/cluster node
        ("s3cret@node-1:7000", "REDACTED@node-1:7000"),
        ("alice:s3cret@redis_sentinel:26379", "alice:REDACTED@redis_sentinel:26379"),  # '_' in a compose name
        ("alice:pa/ss@sentinel-0:26379", "alice:REDACTED@sentinel-0:26379"),  # unencoded '/' in a node's password
        ("alice:p@s s?#@node-1:7000", "alice:REDACTED@node-1:7000"),
    ],
)
def test_secrets_in_urls_are_replaced(url, expected):
    assert redact_url(url) == expected
    assert redact_url(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "redis://cache:6379/0",
        "http://127.0.0.1:8000",
        "grpc://tfs:8500",
        "https://h/models/a@b",  # '@' in the path of a URL whose authority is a plain host
        "/etc/isthmus/tls/tls.key",  # key file paths are kept (their contents are never read)
        "/models/v1@2/model.onnx",
        "model@latest.onnx",
        "10.0.0.5:26379",
        "https://h/p?db=1&ttl=5",
        "fraud-v2",
    ],
)
def test_text_without_secrets_is_unchanged(text):
    assert redact_url(text) == text


def test_secret_keys_are_redacted_wherever_they_are_and_headers_keep_their_names():
    doc = {
        "telemetry": {
            "otlp": {"endpoint": "https://tok@otel:4317", "headers": {"authorization": "Bearer abc", "x-team": "t1"}},
            "exporters": [{"headers": "api-key=abc,x=y"}],
        },
        "auth": {"user": "u", "pass": "p"},
        "client_secret": "cs",
        "redis_password": "pw",
        "password": None,  # unset stays visibly unset
        "tls": {"cert": "/c.pem", "key": "/k.pem", "client_ca": None},
        "routes": [{"model": "m", "sticky_header": "x-user", "override_header": "x-variant"}],
        "weight": 3,
        "enabled": True,
    }
    assert redact(doc) == {
        "telemetry": {
            "otlp": {"endpoint": "https://REDACTED@otel:4317", "headers": {"authorization": REDACTED, "x-team": REDACTED}},
            "exporters": [{"headers": REDACTED}],
        },
        "auth": {"user": REDACTED, "pass": REDACTED},
        "client_secret": REDACTED,
        "redis_password": REDACTED,
        "password": None,
        "tls": {"cert": "/c.pem", "key": "/k.pem", "client_ca": None},
        "routes": [{"model": "m", "sticky_header": "x-user", "override_header": "x-variant"}],
        "weight": 3,
        "enabled": True,
    }


def test_header_lists_keep_names_and_lose_values():
    assert redact({"headers": [{"name": "authorization", "value": "Bearer x"}, "k=v"]}) == {
        "headers": [{"name": "authorization", "value": REDACTED}, REDACTED]
    }


@pytest.mark.parametrize("name", ["password", "Redis-Password", "api_key", "apiKey", "ACCESS_TOKEN", "auth", "Authorization"])
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["key", "cert", "client_ca", "sticky_header", "tenant_header", "author", "url"])
def test_not_secret_names(name):
    assert not is_secret_name(name)


# --- properties ---------------------------------------------------------------------------------

hosts = st.from_regex(r"\A[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,2}\Z")
ports = st.integers(1, 65535)
users = st.from_regex(r"\A[a-z][a-z0-9_]{0,11}\Z")
# any text a password could be; ≥ 6 characters so that it cannot occur in the rest by chance
passwords = st.text(min_size=6, max_size=40).filter(lambda p: p.strip() == p and "\n" not in p)
schemes = st.sampled_from(["redis", "rediss", "http", "https", "grpc"])


def _free_of(pw: str, *others: str) -> bool:
    return all(pw not in o for o in others) and REDACTED not in pw and pw not in REDACTED


@given(schemes, users, passwords, hosts, ports, st.sampled_from(["", "/0", "/v2/models"]))
def test_an_encoded_password_never_survives(scheme, user, pw, host, port, path):
    encoded = quote(pw, safe="")
    url = f"{scheme}://{user}:{encoded}@{host}:{port}{path}"
    assume(_free_of(encoded, f"{scheme}://{user}:@{host}:{port}{path}"))
    out = redact_url(url)
    assert encoded not in out
    assert out.endswith(f"@{host}:{port}{path}")
    assert out.startswith(f"{scheme}://{user}:{REDACTED}@" if scheme.startswith("redis") else f"{scheme}://{REDACTED}@")
    assert redact_url(out) == out


@given(users, st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]), min_size=6, max_size=30),
       hosts, ports)  # fmt: skip
def test_an_unencoded_password_never_survives(user, pw, host, port):
    # operators paste passwords without percent-encoding: '@', ':', '/', '?' and '#' included
    assume(pw.strip() == pw)
    url = f"redis://{user}:{pw}@{host}:{port}/0"
    assume(_free_of(pw, f"redis://{user}:@{host}:{port}/0"))
    out = redact_url(url)
    assert pw not in out
    assert f"@{host}:{port}" in out


@given(hosts, ports, st.sampled_from(["", "/0", "/v2/models/m/infer"]), st.sampled_from(["", "?db=1", "?a=b&c=d"]))
def test_urls_without_userinfo_or_secret_parameters_are_unchanged(host, port, path, query):
    for scheme in ("redis", "https", "grpc"):
        url = f"{scheme}://{host}:{port}{path}{query}"
        assert redact_url(url) == url


@given(users, passwords, hosts, ports, passwords, passwords)
def test_a_whole_config_dump_carries_no_secret(user, redis_pw, host, port, endpoint_pw, query_pw):
    config = Config.model_validate({
        "cache": {"redis": {"url": f"redis://{user}:{quote(redis_pw, safe='')}@{host}:{port}/0"}},
        "backends": [{"name": "b", "protocol": "kserve-v2", "endpoints": [
            f"https://{quote(endpoint_pw, safe='')}@{host}:{port}",
            f"http://{host}:{port}/?token={quote(query_pw, safe='')}",
        ]}],
        "routes": [{"model": "m", "variants": [{"backend": "b", "weight": 1}]}],
    })  # fmt: skip
    plain = orjson.dumps(config.model_dump(mode="json")).decode()
    secrets = [quote(s, safe="") for s in (redis_pw, endpoint_pw, query_pw)]
    assume(all(plain.count(s) == secrets.count(s) for s in secrets))  # each occurs only where put
    assume(all(REDACTED not in s and s not in REDACTED for s in secrets))
    dumped = orjson.dumps(redact(config.model_dump(mode="json"))).decode()
    for s in secrets:
        assert s not in dumped
    assert f"redis://{user}:{REDACTED}@{host}:{port}/0" in dumped


@given(users, st.text(st.characters(blacklist_characters="\n/?#", blacklist_categories=["Cs"]), min_size=6, max_size=30),
       hosts, ports, st.sampled_from(["https", "http", "grpc"]))  # fmt: skip
def test_any_userinfo_of_a_non_redis_url_never_survives(user, pw, host, port, scheme):
    url = f"{scheme}://{user}:{pw}@{host}:{port}/v2"
    assume(pw.strip() == pw and _free_of(pw, f"{scheme}://:@{host}:{port}/v2"))
    out = redact_url(url)
    assert pw not in out and out == f"{scheme}://{REDACTED}@{host}:{port}/v2"
