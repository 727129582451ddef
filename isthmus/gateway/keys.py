"""Typed keys for aiohttp app and request state, and header names."""

from aiohttp import web

from isthmus.gateway.dataplane import DataPlane

DATAPLANE = web.AppKey("dataplane", DataPlane)
REQUEST_ID = web.RequestKey("request_id", str)

BACKEND_HEADER = "x-isthmus-backend"
REQUEST_ID_HEADER = "x-request-id"
NO_BACKEND = "-"
