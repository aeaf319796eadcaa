"""Token suite: an issued stream token opens exactly one stream, while it lives; it is
refused when reused, raced, expired, forged or replaced by the API key, and never echoed.

One test per (spec, stream endpoint, check); the ids read `spec::endpoint::check`.
"""

SUITE = "tokens"


def test_tokens(conformance_case, verify_conformance):
    verify_conformance(conformance_case)
