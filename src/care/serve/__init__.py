"""``care serve``: a local web app and REST API over care's assessors.

Safe by default: it binds to loopback, needs a bearer token on any other address, limits
request bodies, accepts transcript text (never file paths), keeps CORS closed unless
configured, and never writes transcript text to its logs. See ``docs/serve.md``.
"""

from care.serve.app import create_app

__all__ = ["create_app"]
