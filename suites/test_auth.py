"""Auth suite: API keys that are missing, malformed, wrong or sent in the URL are refused
with 401 and the documented body before any stream starts.

One test per (spec, stream endpoint, check); the ids read `spec::endpoint::check`.
"""

SUITE = "auth"


def test_auth(conformance_case, verify_conformance):
    verify_conformance(conformance_case)
