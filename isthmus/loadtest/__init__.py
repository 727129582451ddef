"""Open-loop load testing and capacity planning for Isthmus and any HTTP inference endpoint."""
