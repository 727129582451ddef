"""Isthmus: an edge-to-cluster inference gateway."""

__version__ = "0.1.0"
