"""The engine: requests, setup flows, capture, verdicts and the run that ties them together."""
