import pytest

from isthmus.gateway.routes import Match, MethodNotAllowed, NotFound, UrlTable, resolve


def test_url_table():
    assert resolve("POST", "/v2/models/m/versions/2/infer") == Match("infer_v2", "m", "2")
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


def test_tf_serving_urls_name_a_version_or_a_label():
    assert resolve("POST", "/v1/models/m:predict") == Match("predict_v1", "m")
    assert resolve("POST", "/v1/models/m/versions/3:predict") == Match("predict_v1", "m", "3")
    assert resolve("POST", "/v1/models/m/labels/canary:predict") == Match("predict_v1", "m", None, "canary")
    assert resolve("POST", "/v1/models/m/labels/stable:classify") == Match("classify_tfs", "m", None, "stable")
    assert resolve("POST", "/v1/models/m/versions/1:regress") == Match("regress_tfs", "m", "1")
    assert resolve("GET", "/v1/models/m/versions/1/metadata") == Match("metadata_tfs", "m", "1")
    assert resolve("GET", "/v1/models/m/metadata") == Match("metadata_tfs", "m")
    assert resolve("GET", "/v1/models/m/labels/l") == Match("model_ready_v1", "m", None, "l")
    with pytest.raises(NotFound):
        resolve("POST", "/v1/models/m/versions/1/labels/x:predict")
    with pytest.raises(MethodNotAllowed):
        resolve("GET", "/v1/models/m:classify")
