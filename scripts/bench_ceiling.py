"""The ceiling: a bare Starlette app doing the least each benchmarked call must do (uvicorn, same settings).

GET /poll answers a get_result-sized JSON; POST /submit reads the body and answers a submit-sized JSON;
GET /blob serves N bytes (N from BENCH_BLOB_BYTES) as image/jpeg.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

POLL = (
    b'{"id":"378156bf-1aa0-4419-afde-e5f1b98ac7a9","status":"Pending","result":null,"progress":0.1,'
    b'"details":null,"preview":null}'
)
SUBMIT = (
    b'{"id":"378156bf-1aa0-4419-afde-e5f1b98ac7a9","polling_url":"http://127.0.0.1/v1/get_result?id='
    b'378156bf-1aa0-4419-afde-e5f1b98ac7a9"}'
)
BLOB = os.urandom(int(os.environ.get("BENCH_BLOB_BYTES", "150000")))


async def poll(request: Request) -> Response:
    return Response(POLL, media_type="application/json")


async def submit(request: Request) -> Response:
    await request.body()
    return Response(SUBMIT, media_type="application/json")


async def blob(request: Request) -> Response:
    return Response(BLOB, media_type="image/jpeg")


app = Starlette(routes=[Route("/poll", poll), Route("/submit", submit, methods=["POST"]), Route("/blob", blob)])
