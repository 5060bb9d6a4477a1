"""The same broadcast on Starlette + sse-starlette, served by uvicorn: what a
developer might pick instead of Quart.

    uvicorn bench.baselines.starlette_broadcast:app
"""

import asyncio

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

streams: set[asyncio.Queue] = set()


async def sse(request: Request) -> EventSourceResponse:
    async def events():
        queue: asyncio.Queue[str] = asyncio.Queue()
        streams.add(queue)
        try:
            yield ServerSentEvent(retry=3000, comment="ready")
            while True:
                yield ServerSentEvent(data=await queue.get(), event="post")
        finally:
            streams.discard(queue)

    return EventSourceResponse(events())


async def publish(request: Request) -> Response:
    data = (await request.body()).decode()
    for queue in streams:
        queue.put_nowait(data)
    return Response(status_code=204)


app = Starlette(routes=[Route("/sse", sse), Route("/publish", publish, methods=["POST"])])
