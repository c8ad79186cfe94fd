"""One HTTP client for the tests' requests to loopback servers.

`httpx.get()` and friends build a new client per call, and each new client loads the CA bundle: about 30 ms of
CPU, per request, even for plain http://127.0.0.1. Readiness polls and webhook loops made that add up. The
client is thread-safe and keeps connections alive; a server gone away is noticed before a connection is reused.
"""

from __future__ import annotations

import httpx

loopback = httpx.Client(timeout=30, trust_env=False)
