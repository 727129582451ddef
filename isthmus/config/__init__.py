"""The weighted traffic config file: parsed once into frozen objects."""

from isthmus.config.errors import ConfigError, ConfigIssue
from isthmus.config.loader import load_config, parse_config
from isthmus.config.model import (
    BackendConfig,
    Config,
    HttpBackendConfig,
    ListenerConfig,
    OnnxBackendConfig,
    RouteConfig,
    TLSConfig,
    VariantConfig,
)

__all__ = [
    "BackendConfig",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "HttpBackendConfig",
    "ListenerConfig",
    "OnnxBackendConfig",
    "RouteConfig",
    "TLSConfig",
    "VariantConfig",
    "load_config",
    "parse_config",
]
