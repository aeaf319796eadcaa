"""Scenarios: the ways an endpoint is exercised, each yielding typed evidence for checks.

A scenario is an object, registered in its family; a check names the scenarios it judges
by those objects. Each module here is named after the check ids it feeds: `resume`
scenarios feed `resume.*` checks, `token` feeds `token.*`, `auth` feeds `auth.key.*`,
`input` feeds `input.*`; `stream` holds the plain capture and the provoked ones.
"""
