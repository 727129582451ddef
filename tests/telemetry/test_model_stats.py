"""The statistics document from the request histogram's series (pure)."""

from isthmus.telemetry.model_stats import model_stats

TOTALS = {
    ("m", "a", "200", "http", "miss"): (2, 0.004, 5_000_000_000),
    ("m", "a", "OK", "grpc", "hit"): (3, 0.0015, 7_000_000_000),
    ("m", "b", "OK", "grpc", "bypass"): (1, 0.5, 6_000_000_000),
    ("m", "-", "404", "http", "-"): (1, 0.0001, 8_000_000_000),
    ("m", "b", "502", "http", "-"): (2, 1.0, 1_000_000_000),
    ("other", "a", "200", "http", "bypass"): (9, 9.0, 9_000_000_000),
    None: (4, 1.0, 9_500_000_000),  # the overflow series names no model
}


def test_the_whole_route():
    s = model_stats("m", "", TOTALS)
    assert (s["inference_count"], s["execution_count"], s["last_inference"]) == (6, 3, 8_000)
    st = s["inference_stats"]
    assert st["success"] == {"count": 6, "ns": 505_500_000} and st["fail"] == {"count": 3, "ns": 1_000_100_000}
    assert st["cache_hit"] == {"count": 3, "ns": 1_500_000} and st["cache_miss"] == {"count": 2, "ns": 0}
    assert st["queue"] == st["compute_input"] == st["compute_infer"] == st["compute_output"] == {"count": 0, "ns": 0}


def test_the_variants_of_one_version_and_a_route_never_called():
    s = model_stats("m", "2", TOTALS, {"b"})
    assert (s["version"], s["inference_count"], s["inference_stats"]["fail"]["count"], s["last_inference"]) == (
        "2", 1, 2, 6_000)
    quiet = model_stats("none", "", TOTALS)
    assert (quiet["inference_count"], quiet["last_inference"], quiet["inference_stats"]["success"]) == (
        0, 0, {"count": 0, "ns": 0})
