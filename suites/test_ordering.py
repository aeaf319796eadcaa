"""Ordering suite: event types and schemas, the stream grammar (per run where runs are
multiplexed), ids, timestamps, and filters.

One test per (spec, stream endpoint, check); the ids read `spec::endpoint::check`.
"""

SUITE = "ordering"


def test_ordering(conformance_case, verify_conformance):
    verify_conformance(conformance_case)
