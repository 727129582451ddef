"""Request/response mappings of free-form JSON backends in the config: parsed, and every mistake
reported as file:line: field: reason."""

import textwrap
from pathlib import Path

import pytest

from isthmus.config import ConfigError, load_config

GOOD = """\
backends:
  - name: seed
    protocol: ray-serve
    endpoints: [http://ray-head:8000]
    route_prefix: /seed
    request:
      inputs: {input-0: /input}
    response:
      outputs: {output-0: /output}
  - name: sentiment
    protocol: http-json
    endpoints: [http://nlp:9000]
    path: /models/{model}/predict
    ready_path: /healthz
    tensors: {datatype: FP64}
    request:
      body: {options: {top_k: 3}, instances: []}
      inputs: {text: /instances/-}
    response:
      outputs: {label: /result/label, score: /result/score}
routes:
  - model: seed
    variants: [{backend: seed, weight: 1}]
"""


def issues(tmp_path: Path, text: str) -> list[str]:
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent(text))
    with pytest.raises(ConfigError) as err:
        load_config(p)
    return [str(i).replace(str(p), "c.yaml") for i in err.value.issues]


def test_mappings_parse(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(GOOD)
    cfg = load_config(p)
    seed, sentiment = cfg.backend("seed"), cfg.backend("sentiment")
    assert seed.request.inputs == {"input-0": "/input"} and seed.request.body == {}
    assert seed.response.outputs == {"output-0": "/output"}
    assert sentiment.path == "/models/{model}/predict" and sentiment.request.body["options"] == {"top_k": 3}
    assert list(sentiment.response.outputs) == ["label", "score"]


def test_no_mapping_is_the_v1_default(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("backends:\n  - {name: r, protocol: ray-serve, endpoints: ['http://r:8000']}\n")
    r = load_config(p).backend("r")
    assert r.request is None and r.response is None


BAD = """\
backends:
  - name: seed
    protocol: ray-serve
    endpoints: [http://ray-head:8000]
    request:
      inputs: {input-0: input}
    response:
      outputs: {output-0: /a~2}
  - name: sentiment
    protocol: http-json
    endpoints: [http://nlp:9000]
    path: models
    request:
      body: {options: .inf}
      inputs: {text: /text}
  - name: v1
    protocol: kserve-v1
    endpoints: [http://k:8080]
    request: {inputs: {x: /x}}
"""


def test_every_mapping_mistake_is_reported_with_its_line(tmp_path):
    assert issues(tmp_path, BAD) == [
        "c.yaml:6: backends[0].request.inputs.input-0: bad JSON pointer 'input': Location must start with / "
        "(write /key/0/key; ~1 for '/', ~0 for '~')",
        "c.yaml:8: backends[0].response.outputs.output-0: bad JSON pointer '/a~2': Found invalid escape ~2 "
        "(write /key/0/key; ~1 for '/', ~0 for '~')",
        "c.yaml:12: backends[1].path: String should match pattern '^/[^\\s#]*$'",
        "c.yaml:14: backends[1].request.body: /options: inf is not a JSON number",
        "c.yaml:19: backends[2].request: 'request' mappings are for ray-serve and http-json backends; "
        "a kserve-v1 backend speaks its own protocol",
        "c.yaml:19: backends[2].request: unknown field 'request'",
    ]


@pytest.mark.parametrize(
    "inputs, reason",
    [
        ("{input-0: /input, other: /input/x}", "inputs 'input-0' (/input) and 'other' (/input/x) overlap"),
        ("{}", "give at least one input"),
        ("{'': /x}", "String should have at least 1 character"),
    ],
)
def test_inputs_checked_together(tmp_path, inputs, reason):
    out = issues(tmp_path, GOOD.replace("{input-0: /input}", inputs))
    assert len(out) == 1 and out[0].startswith("c.yaml:") and reason in out[0], out


def test_a_pointer_through_a_template_value_is_refused(tmp_path):
    out = issues(tmp_path, GOOD.replace("{text: /instances/-}", "{text: /options/top_k/x}"))
    assert out == ["c.yaml:16: backends[1].request: input 'text': /options/top_k/x goes through /options/top_k, "
                   "which is a number in the body, not an object or array"]
