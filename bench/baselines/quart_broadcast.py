"""The bare minimum on Quart + Hypercorn: broadcast one in-memory event to
every open stream. No database, no login: the floor QuartFeed is measured
against.

    hypercorn "bench.baselines.quart_broadcast:app"
"""

import asyncio

from quart import Quart, make_response, request

app = Quart(__name__)
streams: set[asyncio.Queue] = set()


@app.get("/sse")
async def sse():
    async def events():
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        streams.add(queue)
        try:
            yield b"retry: 3000\n\n"
            while True:
                yield await queue.get()
        finally:
            streams.discard(queue)

    response = await make_response(
        events(), {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    response.timeout = None
    return response


@app.post("/publish")
async def publish():
    frame = b"event: post\ndata: " + await request.get_data() + b"\n\n"
    for queue in streams:
        queue.put_nowait(frame)
    return "", 204
