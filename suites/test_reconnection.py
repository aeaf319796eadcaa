"""Reconnection suite: cut a run and resume it (Last-Event-ID or a cursor), with nothing
lost and nothing twice; unknown cursors and expired runs get their documented answers.

One test per (spec, stream endpoint, check); the ids read `spec::endpoint::check`.
"""

SUITE = "reconnection"


def test_reconnection(conformance_case, verify_conformance):
    verify_conformance(conformance_case)
