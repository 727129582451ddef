"""Free-form JSON backends travel through xDS whole: their mappings come back as they were sent."""

from isthmus.config import Config
from isthmus.xds.inverse import config_from_resources
from isthmus.xds.resources import resources_from_config


def test_mapped_backends_round_trip_through_xds_resources():
    config = Config.model_validate({
        "backends": [
            {"name": "seed", "protocol": "ray-serve", "endpoints": ["http://ray:8000"], "route_prefix": "/seed",
             "request": {"body": {"opts": {"k": 3, "t": 0.5, "none": None}, "xs": ["a"]},
                         "inputs": {"input-0": "/input", "b": "/xs/-"}},
             "response": {"outputs": {"output-0": "/output/0", "n": "/n"}}},
            {"name": "nlp", "protocol": "http-json", "endpoints": ["http://nlp:9000"], "path": "/m/{model}/predict",
             "ready_path": "/healthz"},
        ],
        "routes": [{"model": "m", "variants": [{"backend": "seed", "weight": 1}, {"backend": "nlp", "weight": 1}]}],
    })
    back = config_from_resources(resources_from_config(config))
    assert back == config
    assert back.backend("seed").request.body == {"opts": {"k": 3, "t": 0.5, "none": None}, "xs": ["a"]}
    assert isinstance(back.backend("seed").request.body["opts"]["k"], int)
    assert back.backend("nlp").path == "/m/{model}/predict" and back.backend("nlp").request is None
