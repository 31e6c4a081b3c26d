"""Debian's python3-websockets as a permessage-deflate peer for test/interop/python.test.ts.

  python-peer.py server        echo server on 127.0.0.1, port 0; prints {"port": N}, then serves
                               until stdin closes (the test process ended) or 120 s pass.
  python-peer.py client URL    connects with the library's default deflate offer, sends every
                               case of CASES, checks each echo, prints one JSON line, closes 1000.

Run with /usr/bin/python3 (Debian's interpreter, which sees Debian's packages). Every wait is
bounded, so the process always stops by itself.
"""
import asyncio
import json
import os
import random
import sys

import websockets

MIB = 1024 * 1024


def compressible_text(length):
    parts, size, i = [], 0, 0
    while size < length:
        item = json.dumps({"id": i, "name": f"item {i}", "price": i * 1.5, "tags": ["a", "b"]})
        parts.append(item)
        size += len(item)
        i += 1
    return "".join(parts)[:length]


def cases():
    rnd = random.Random(7)
    return [
        ("compressible text, small", compressible_text(2000)),
        ("random text, small", os.urandom(1500).hex()[:2000]),
        ("compressible binary, small", compressible_text(3000).encode()),
        ("random binary, small", os.urandom(3000)),
        ("compressible text, 16 MiB", compressible_text(16 * MIB)),
        ("random binary, 16 MiB", rnd.randbytes(16 * MIB)),
    ]


async def echo(ws, *_):
    async for message in ws:
        await ws.send(message)


async def serve():
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=64 * MIB) as server:
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"port": port}), flush=True)
        loop = asyncio.get_running_loop()
        # Ends when the parent closes our stdin (or dies), or after 120 s.
        try:
            await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.read), 120)
        except asyncio.TimeoutError:
            pass


async def client(url):
    results = []
    async with websockets.connect(url, max_size=64 * MIB, open_timeout=10) as ws:
        extensions = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        offered = ws.request_headers.get("Sec-WebSocket-Extensions", "")
        for name, payload in cases():
            for _ in range(2):  # the second message reuses the compression contexts
                await ws.send(payload)
                echoed = await asyncio.wait_for(ws.recv(), 60)
                results.append({"case": name, "ok": echoed == payload, "type": type(echoed).__name__})
        await ws.close(1000, "done")
        # The Close the server answered with: ours echoes the code and the reason.
        close_received = {"code": ws.close_code, "reason": ws.close_reason}
    print(json.dumps({"offered": offered, "extensions": extensions, "results": results,
                      "closeReceived": close_received}), flush=True)


def main():
    if sys.argv[1] == "server":
        asyncio.run(serve())
    else:
        asyncio.run(asyncio.wait_for(client(sys.argv[2]), 120))


if __name__ == "__main__":
    main()
    os._exit(0)  # the executor thread may still block on stdin: do not wait for it
