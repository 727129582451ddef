"""Protocol definitions Isthmus writes itself, with their generated Python code."""
