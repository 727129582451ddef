"""Canonical cache keys: equal tensors share a key however they were spelled; anything that changes
the answer (backend, version, tenant, parameters, outputs, datatype, data) changes it."""

from __future__ import annotations

import orjson

from isthmus.cache.keys import KEY_PREFIX, request_key
from isthmus.codecs import v1, v2

WHO = {"model": "m", "backend": "m-v1", "version": "1", "tenant": None}


def v2_key(body: bytes | str, **who) -> str:
    body = body.encode() if isinstance(body, str) else body
    return request_key(v2.decode_request(body), **{**WHO, **who})


def v1_key(body: str, **who) -> str:
    return request_key(v1.decode_request(body.encode()), **{**WHO, **who})


BASE = '{"inputs":[{"name":"input-0","datatype":"FP32","shape":[1,3],"data":[1,2,3]}]}'


def test_key_is_a_prefixed_hash_that_never_embeds_the_payload():
    secret = '{"inputs":[{"name":"input-0","datatype":"BYTES","shape":[1],"data":["hunter2-secret"]}]}'
    key = v2_key(secret)
    assert key.startswith(KEY_PREFIX)
    assert len(key) == len(KEY_PREFIX) + 40
    assert "hunter2" not in key and "input-0" not in key


def test_json_key_order_whitespace_and_number_spelling_do_not_matter_for_fp32():
    same = [
        BASE,
        '{ "inputs" : [ { "data" : [ 1.0 , 2.0 , 3.0 ] , "shape" : [1, 3], "datatype" : "FP32", "name" : "input-0" } ] }',
        '{"inputs":[{"name":"input-0","datatype":"FP32","shape":[1,3],"data":[1e0,2.00,0.3e1]}]}',
        '{"inputs":[{"name":"input-0","datatype":"FP32","shape":[1,3],"data":[[1,2,3]]}]}',  # nested data
        '\n{"inputs":[{"name":"input-0","datatype":"FP32","shape":[1,3],"data":[1,2,3]}]}\n',
    ]
    assert len({v2_key(b) for b in same}) == 1


def test_request_id_does_not_change_the_key():
    with_id = '{"id":"req-42","inputs":[{"name":"input-0","datatype":"FP32","shape":[1,3],"data":[1,2,3]}]}'
    assert v2_key(with_id) == v2_key(BASE)


def test_input_order_does_not_matter_but_names_do():
    a = {"name": "a", "datatype": "INT32", "shape": [1], "data": [1]}
    b = {"name": "b", "datatype": "INT32", "shape": [1], "data": [2]}
    assert v2_key(orjson.dumps({"inputs": [a, b]})) == v2_key(orjson.dumps({"inputs": [b, a]}))
    swapped = [{**a, "data": [2]}, {**b, "data": [1]}]
    assert v2_key(orjson.dumps({"inputs": [a, b]})) != v2_key(orjson.dumps({"inputs": swapped}))


def test_who_answers_changes_the_key():
    base = v2_key(BASE)
    assert v2_key(BASE, backend="m-v2") != base
    assert v2_key(BASE, version="2") != base
    assert v2_key(BASE, version=None) != base
    assert v2_key(BASE, tenant="acme") != base
    assert v2_key(BASE, tenant="acme") != v2_key(BASE, tenant="globex")
    assert v2_key(BASE, model="other") != base


def test_what_is_asked_changes_the_key():
    doc = orjson.loads(BASE)
    variants = {
        "data": {**doc, "inputs": [{**doc["inputs"][0], "data": [1, 2, 4]}]},
        "shape": {**doc, "inputs": [{**doc["inputs"][0], "shape": [3, 1]}]},
        "datatype": {**doc, "inputs": [{**doc["inputs"][0], "datatype": "FP64"}]},
        "int datatype": {**doc, "inputs": [{**doc["inputs"][0], "datatype": "INT32"}]},
        "name": {**doc, "inputs": [{**doc["inputs"][0], "name": "input-1"}]},
        "parameters": {**doc, "parameters": {"temperature": 0.5}},
        "tensor parameters": {**doc, "inputs": [{**doc["inputs"][0], "parameters": {"content_type": "np"}}]},
        "outputs": {**doc, "outputs": [{"name": "output-0"}]},
    }
    keys = {what: v2_key(orjson.dumps(d)) for what, d in variants.items()}
    keys["base"] = v2_key(BASE)
    assert len(set(keys.values())) == len(keys), keys


def test_parameter_values_and_requested_outputs_are_canonical_too():
    p1 = '{"parameters":{"b":1,"a":2.0},"outputs":[{"name":"y"},{"name":"x"}],' + BASE[1:]
    p2 = '{"outputs":[{"name":"x"},{"name":"y"}],"parameters":{"a":2,"b":1.0},' + BASE[1:]
    assert v2_key(p1) == v2_key(p2)
    assert v2_key('{"parameters":{"a":2},' + BASE[1:]) != v2_key('{"parameters":{"a":"2"},' + BASE[1:])
    assert v2_key('{"parameters":{"a":1},' + BASE[1:]) != v2_key('{"parameters":{"a":true},' + BASE[1:])


def test_large_integer_parameters_are_not_confused():
    """2**53 and 2**53+1 are the same float: a key must still tell them apart (a seed, an id)."""
    a = '{"parameters":{"seed":9007199254740992},' + BASE[1:]
    b = '{"parameters":{"seed":9007199254740993},' + BASE[1:]
    assert v2_key(a) != v2_key(b)


def test_int64_tensors_keep_full_precision():
    a = '{"inputs":[{"name":"ids","datatype":"INT64","shape":[1],"data":[9007199254740992]}]}'
    b = '{"inputs":[{"name":"ids","datatype":"INT64","shape":[1],"data":[9007199254740993]}]}'
    assert v2_key(a) != v2_key(b)


def test_bytes_tensors():
    def key(data: list[str], shape: list[int] | None = None) -> str:
        doc = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": shape or [len(data)], "data": data}]}
        return v2_key(orjson.dumps(doc))

    assert key(["ab", "c"]) == key(["ab", "c"])
    assert key(["ab", "c"]) != key(["a", "bc"])  # element boundaries are part of the key
    assert key(["ab", "c"]) != key(["c", "ab"])
    assert key(["abc"]) != key(["ab"])
    assert key(["", "x"]) != key(["x", ""])
    assert key(["ab", "c"], [2]) != key(["ab", "c"], [1, 2])


def test_v1_instances():
    assert v1_key('{"instances":[[1,2],[3,4]]}') == v1_key('{ "instances" : [[1.0, 2.0], [3, 4.0]] }')
    assert v1_key('{"instances":[{"b":1,"a":"x"}]}') == v1_key('{"instances":[{"a":"x","b":1}]}')
    assert v1_key('{"instances":[[1,2],[3,4]]}') != v1_key('{"instances":[[3,4],[1,2]]}')
    assert v1_key('{"instances":[[1,2]]}') != v1_key('{"instances":[[1,2]]}', backend="m-v2")
    assert v1_key('{"instances":[[1,2]]}') != v1_key('{"instances":[[1,2]]}', tenant="t")
    assert v1_key('{"instances":[[1,2]]}') != v1_key('{"instances":[[1,2]],"parameters":{"k":1}}')
    assert v1_key('{"instances":[["1"]]}') != v1_key('{"instances":[[1]]}')


def test_v1_and_v2_forms_of_the_same_numbers_do_not_collide():
    assert v1_key('{"instances":[[1,2,3]]}') != v2_key(BASE)
