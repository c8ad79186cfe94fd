"""CPU per status callback on the sending side: httpx's AsyncClient against aiohttp (what the Twilio simulator uses).

Run: .venv/bin/python bench/bench_callbacks.py [--requests 3000]
Both clients post the same signed-callback-sized form to one local uvicorn app, 16 at a time over at most 32
kept-alive connections, alternately, twice; printed: the client thread's CPU per request and the ratio. The
server runs in another thread, so its cost is not counted (it is the same for both).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from broadcast.simulators.threaded import serve_in_thread
from broadcast.simulators.twilio.callbacks import callback_session, client_limits

PARAMS = {"AccountSid": "AC" + "1" * 32, "ApiVersion": "2010-04-01", "From": "+15005550006",
          "MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered", "SmsSid": "SM" + "2" * 32,
          "SmsStatus": "delivered", "To": "+84981234567"}
HEADERS = {"X-Twilio-Signature": "a" * 28, "User-Agent": "TwilioProxy/1.1"}


async def ok(request: Request) -> Response:
    await request.body()
    return Response(status_code=200)


async def fan_out(post: Callable[[], Awaitable[None]], n: int) -> float:
    """Thread CPU seconds for `n` posts, 16 in flight."""
    gate = asyncio.Semaphore(16)

    async def one() -> None:
        async with gate:
            await post()

    started = time.thread_time()
    await asyncio.gather(*[one() for _ in range(n)])
    return time.thread_time() - started


async def with_httpx(url: str, n: int) -> float:
    async with httpx.AsyncClient(limits=client_limits(32), trust_env=False) as client:

        async def post() -> None:
            (await client.post(url, data=PARAMS, headers=HEADERS)).raise_for_status()

        return await fan_out(post, n)


async def with_aiohttp(url: str, n: int) -> float:
    async with callback_session(32) as session:

        async def post() -> None:
            async with session.post(url, data=PARAMS, headers=HEADERS) as response:
                await response.read()
                response.raise_for_status()

        return await fan_out(post, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    n = parser.parse_args().requests
    server = serve_in_thread(Starlette(routes=[Route("/cb", ok, methods=["POST"])]), "127.0.0.1", 0, name="sink")
    url = f"http://127.0.0.1:{server.port}/cb"
    try:
        for round_ in (1, 2):
            a = asyncio.run(with_httpx(url, n))
            b = asyncio.run(with_aiohttp(url, n))
            print(f"round {round_}: {n:,} callbacks, client CPU per request: httpx {a / n * 1000:.3f} ms, "
                  f"aiohttp {b / n * 1000:.3f} ms; httpx/aiohttp {a / b:.1f}×")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
