"""Terminal and error suite: one terminal event, close (or stay open) after it, provoked
failures reported as documented, and documented HTTP errors before any stream.

One test per (spec, stream endpoint, check); the ids read `spec::endpoint::check`.
"""

SUITE = "terminal"


def test_terminal(conformance_case, verify_conformance):
    verify_conformance(conformance_case)
