import pytest

from isthmus.gateway.routes import MethodNotAllowed, NotFound, UrlTable, resolve


def test_url_table():
    assert resolve("POST", "/v2/models/m/versions/2/infer").__repr__() == "Match(endpoint='infer_v2', model='m', version='2')"
    assert resolve("POST", "/v1/models/m:predict").model == "m"
    assert resolve("HEAD", "/v2/health/live").endpoint == "live"
    with pytest.raises(MethodNotAllowed):
        resolve("GET", "/v2/models/m/infer")
    with pytest.raises(NotFound):
        resolve("GET", "/v3")


def test_memo_is_bounded_and_never_remembers_errors():
    table = UrlTable(max_entries=2)
    first = table.resolve("POST", "/v2/models/a/infer")
    assert table.resolve("POST", "/v2/models/a/infer") is first
    with pytest.raises(NotFound):
        table.resolve("GET", "/nope")
    for name in "bcd":
        table.resolve("POST", f"/v2/models/{name}/infer")
    assert len(table._memo) <= 2
    assert table.resolve("POST", "/v2/models/a/infer") == first
