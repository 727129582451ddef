"""Header names the gateway reads and writes."""

BACKEND_HEADER = "x-isthmus-backend"
REQUEST_ID_HEADER = "x-request-id"
NO_BACKEND = "-"
CACHE_HEADER = "x-isthmus-cache"
