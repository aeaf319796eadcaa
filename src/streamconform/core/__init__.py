"""The core: what a run records and decides, with no I/O.

Transcripts and the evidence scenarios gather, findings and outcomes, redaction. It
imports nothing from the capture, scenarios, checks, engine, report or servers packages.
"""
