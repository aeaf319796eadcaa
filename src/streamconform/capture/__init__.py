"""Talking to a target: one session per endpoint, requests, setup flows, stream capture.

Every read is bounded by a timeout and every buffer by a size limit; everything kept is
redacted.
"""
