"""YAML syntax errors at the line to fix: an unclosed bracket or quote where it opens, the rest where found."""

from __future__ import annotations

from pathlib import Path

import pytest

from isthmus.config import ConfigError, parse_config


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "t.yaml", Path("."))
    return [str(i) for i in err.value.issues]


@pytest.mark.parametrize(
    "text, expected",
    [
        # an unclosed flow sequence: PyYAML stops at the next key (line 3); the '[' is on line 2
        ("listener: {}\nbackends: [1, 2\nroutes: []\n",
         "t.yaml:2: invalid YAML: '[' is not closed (expected ',' or ']', but got ':' at line 3)"),
        ("listener: {}\nbackends: [1, 2\n",  # at the end of the file
         "t.yaml:2: invalid YAML: '[' is not closed (expected ',' or ']', but got '<stream end>' at line 3)"),
        ("routes:\n  - model: m\n    variants: [{backend: a, weight: 1}\n  - model: n\n",
         "t.yaml:3: invalid YAML: '[' is not closed (expected ',' or ']', but got '-' at line 4)"),
        ("listener: {address: '127.0.0.1:1'\nroutes: []\n",
         "t.yaml:1: invalid YAML: '{' is not closed (expected ',' or '}', but got '<scalar>' at line 2)"),
        ("listener:\n  address: {x: 1,\n    y: 2\nroutes: []\n",
         "t.yaml:2: invalid YAML: '{' is not closed (expected ',' or '}', but got ':' at line 4)"),
        ('listener: {}\nbackends: "abc\nroutes: []\nx: 1\n',
         "t.yaml:2: invalid YAML: the quote is not closed (found unexpected end of stream at line 5)"),
        ("listener: {}\nbackends: 'abc\nroutes: []\n",
         "t.yaml:2: invalid YAML: the quote is not closed (found unexpected end of stream at line 4)"),
        ("listener: {}\nroutes\nbackends: []\n",
         "t.yaml:2: invalid YAML: a key without ':' (could not find expected ':' at line 3)"),
        # no opening: the problem mark is the line to fix
        ("listener:\n\taddress: 127.0.0.1:1\n",
         "t.yaml:2: invalid YAML: found character '\\t' that cannot start any token"),
        ("listener:\n  address: 127.0.0.1:1\n   max_body_size: 1MiB\n",
         "t.yaml:3: invalid YAML: mapping values are not allowed here"),
        ("listener:\n  address: 127.0.0.1:1\n max_body_size: 1MiB\n",
         "t.yaml:3: invalid YAML: expected <block end>, but found '<block mapping start>'"),
        ("routes:\n  - 1\n  backends: []\n",
         "t.yaml:3: invalid YAML: expected <block end>, but found '?'"),
        ("listener: {}\n---\nroutes: []\n", "t.yaml:2: invalid YAML: expected a single document in the stream, but found another document"),
        ("listener: *x\n", "t.yaml:1: invalid YAML: found undefined alias 'x'"),
    ],
)
def test_a_syntax_error_names_the_line_to_fix(text: str, expected: str):
    assert errors(text) == [expected]


def test_duplicate_keys_are_reported_at_the_second_with_every_other_error():
    text = "listener:\n  address: 127.0.0.1:1\n  address: 127.0.0.1:2\n  max_body_size: lots\nroutes: []\nroutes: []\n"
    out = errors(text)
    assert "t.yaml:3: listener.address: duplicate key 'address'" in out
    assert "t.yaml:6: routes: duplicate key 'routes'" in out
    assert any(line.startswith("t.yaml:4: listener.max_body_size: ") for line in out), out
    assert len(out) == 3
