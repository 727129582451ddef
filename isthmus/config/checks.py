"""Cross-field checks a schema cannot express, run on the raw document.

They run even when the schema check failed, so one ``isthmus validate``
reports every problem at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from isthmus.config import resilience_checks
from isthmus.config.any_protocol import PROTOCOLS
from isthmus.config.model import grpc_endpoint

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]


def check(data: Any, base_dir: Path) -> Iterator[Problem]:
    if not isinstance(data, dict):
        return
    backends = data.get("backends") if isinstance(data.get("backends"), list) else []
    routes = data.get("routes") if isinstance(data.get("routes"), list) else []
    names = yield from _backend_names(backends)
    for i, b in enumerate(backends):
        if isinstance(b, dict):
            yield from _backend(b, ("backends", i), base_dir)
    yield from _routes(routes, names)
    yield from resilience_checks.routes(routes, backends)
    listener = data.get("listener")
    if isinstance(listener, dict) and isinstance(listener.get("tls"), dict):
        for key in ("cert", "key", "client_ca"):
            yield from _file(listener["tls"].get(key), ("listener", "tls", key), base_dir, "file")


def _backend_names(backends: list[Any]) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for i, b in enumerate(backends):
        name = b.get("name") if isinstance(b, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            yield ("backends", i, "name"), f"duplicate backend name '{name}' (first at backends[{seen[name]}])"
        else:
            seen[name] = i
    return set(seen)


#: Backends whose JSON is free-form, so a ``request`` / ``response`` mapping can say where tensors go.
JSON_MAPPED = ("ray-serve", "http-json")


def _backend(b: dict[str, Any], path: FieldPath, base_dir: Path) -> Iterator[Problem]:
    protocol = b.get("protocol")
    if not isinstance(protocol, str) or protocol not in PROTOCOLS:  # the loader says so; check what all share
        yield from _declared_tensors(b, path)
        return
    if b["protocol"] not in JSON_MAPPED:
        for key in ("request", "response"):
            if key in b:
                yield (*path, key), (
                    f"'{key}' mappings are for {' and '.join(JSON_MAPPED)} backends; "
                    f"a {b['protocol']} backend speaks its own protocol"
                )
    if b.get("binary_inputs") and b.get("protocol") == "kserve-v1":
        yield (*path, "binary_inputs"), "only kserve-v2 backends take binary tensor data over REST"
    if b.get("protocol") == "onnx":
        yield from _file(b.get("model_path"), (*path, "model_path"), base_dir, "model file")
        yield from resilience_checks.onnx(b, path)
        return
    yield from _declared_tensors(b, path)
    endpoints = b.get("endpoints")
    problem = _grpc_target_problem if b.get("protocol") in ("tfserving-grpc", "kserve-v2-grpc") else _url_problem
    if isinstance(endpoints, list):
        for j, url in enumerate(endpoints):
            reason = problem(url)
            if reason:
                yield (*path, "endpoints", j), reason
    yield from resilience_checks.backend(b, path)


# protocols that send a tensor's name to the backend: KServe V1 instances go as one tensor named tensors.input_name
_NAMED_TENSORS = ("kserve-v2", "kserve-v2-grpc", "tfserving-grpc")


def _declared_tensors(b: dict[str, Any], path: FieldPath) -> Iterator[Problem]:
    """Declared ``inputs`` / ``outputs``: names unique; and with one declared input, V1 instances
    (sent as a tensor named ``tensors.input_name``) must get that input's name."""
    for key in ("inputs", "outputs"):
        specs = b.get(key)
        if not isinstance(specs, list):
            continue
        seen: dict[str, int] = {}
        for j, spec in enumerate(specs):
            name = spec.get("name") if isinstance(spec, dict) else None
            if not isinstance(name, str):
                continue
            if name in seen:
                yield (*path, key, j, "name"), f"duplicate {key[:-1]} name '{name}' (first at {key}[{seen[name]}])"
            else:
                seen[name] = j
        if key == "inputs" and len(seen) == 1 and b.get("protocol") in _NAMED_TENSORS:
            (declared,) = seen
            naming = b.get("tensors") if isinstance(b.get("tensors"), dict) else {}
            input_name = naming.get("input_name", "input-0")
            if isinstance(input_name, str) and input_name != declared:
                yield (*path, "tensors", "input_name") if "tensors" in b else (*path, "inputs"), (
                    f"KServe V1 instances are sent as a tensor named '{input_name}' (tensors.input_name), "
                    f"which is not the declared input '{declared}': set tensors.input_name: {declared}"
                )


def _url_problem(url: Any) -> str | None:
    if not isinstance(url, str):
        return "endpoint must be a URL string"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"bad URL {url!r}: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"bad URL {url!r}: scheme must be http or https"
    if not parts.hostname:
        return f"bad URL {url!r}: no host"
    if parts.query or parts.fragment:
        return f"bad URL {url!r}: must not have a query or fragment"
    if port == 0:
        return f"bad URL {url!r}: port 0"
    return None


def _grpc_target_problem(target: Any) -> str | None:
    """A gRPC backend endpoint: ``grpc://host:port``, ``grpcs://host:port``, ``host:port`` (or http(s)://)."""
    if not isinstance(target, str):
        return "endpoint must be a string: grpc://host:port, grpcs://host:port or host:port"
    try:
        grpc_endpoint(target)
    except ValueError as exc:
        return f"bad gRPC endpoint {target!r}: {exc}"
    return None


def _file(value: Any, path: FieldPath, base_dir: Path, what: str) -> Iterator[Problem]:
    if not isinstance(value, str) or not value:
        return
    p = Path(value).expanduser()
    p = p if p.is_absolute() else base_dir / p
    if not p.is_file():
        yield path, f"{what} not found: {p}"


def _routes(routes: list[Any], backends: set[str]) -> Iterator[Problem]:
    known = ", ".join(sorted(backends)) or "none defined"
    seen: dict[str, int] = {}
    for i, r in enumerate(routes):
        if not isinstance(r, dict):
            continue
        path: FieldPath = ("routes", i)
        model = r.get("model")
        if isinstance(model, str):
            if model in seen:
                yield (*path, "model"), f"duplicate route for model '{model}' (first at routes[{seen[model]}])"
            else:
                seen[model] = i
        variants = r.get("variants") if isinstance(r.get("variants"), list) else []
        total, used = 0, set()
        for j, v in enumerate(variants):
            if not isinstance(v, dict):
                continue
            name = v.get("backend")
            if isinstance(name, str):
                if name not in backends:
                    yield (*path, "variants", j, "backend"), f"unknown backend '{name}' (known: {known})"
                if name in used:
                    yield (*path, "variants", j, "backend"), f"backend '{name}' appears twice in this route"
                used.add(name)
            w = v.get("weight")
            if isinstance(w, int) and not isinstance(w, bool) and w > 0:
                total += w
        if variants and total == 0:
            yield (*path, "variants"), "total weight is 0: at least one variant needs a positive weight"
        fb = r.get("fallback")
        if isinstance(fb, str) and fb not in backends:
            yield (*path, "fallback"), f"unknown backend '{fb}' (known: {known})"
        sticky, override = r.get("sticky_header"), r.get("override_header")
        if isinstance(sticky, str) and isinstance(override, str) and sticky.lower() == override.lower():
            yield (*path, "override_header"), "override_header must differ from sticky_header"
