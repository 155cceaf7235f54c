"""Everything Kraken-specific: wire models, requests, the book and its checksum, signing, names.

A second venue would be a sibling package with the same shape.
"""
