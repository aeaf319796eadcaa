"""Framing suite: content type, UTF-8, real streaming, headers, and SSE/NDJSON/text wire rules.

One test per (spec, stream endpoint, check); the ids read `spec::endpoint::check`.
"""

SUITE = "framing"


def test_framing(conformance_case, verify_conformance):
    verify_conformance(conformance_case)
