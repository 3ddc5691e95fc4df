#!/usr/bin/env python3
"""Python `websockets` against tests/servers/admission_server.gd: the HTTP status a rejected
client receives, and forwarding headers set freely (trusted proxies).

    admission_client.py --ports raw-trusted=P raw-untrusted=P mp-trusted=P mp-untrusted=P [--shutdown]

Prints one line per check, "ok NAME" or "FAIL NAME: why", and exits 1 if any check failed.
Run by scripts/run-client-tests.sh.
"""

import argparse
import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from checks import check, exit_code, report


async def reported_address(port, mp, path="/?token=good", headers=None):
    """Connects (expecting acceptance) and returns the address the server reports."""
    async with connect(f"ws://127.0.0.1:{port}{path}", additional_headers=headers or {}) as ws:
        if mp:
            announced = await ws.recv()
            if not (isinstance(announced, bytes) and len(announced) == 4):
                raise AssertionError(f"expected the 4-byte id message first, got {announced!r}")
        message = await ws.recv()
        return message.decode() if isinstance(message, bytes) else message


async def expect_address(port, mp, expected, **kwargs):
    got = await reported_address(port, mp, **kwargs)
    return None if got == expected else f"expected address {expected!r}, got {got!r}"


async def expect_status(port, path, status, body=None):
    try:
        async with connect(f"ws://127.0.0.1:{port}{path}"):
            return f"connected, expected HTTP {status}"
    except InvalidStatus as e:
        got = e.response.status_code
        if got != status:
            return f"expected HTTP {status}, got {got}"
        if body is not None and e.response.body != body:
            return f"expected body {body!r}, got {e.response.body!r}"
        return None


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", nargs=4, required=True)
    parser.add_argument("--shutdown", action="store_true")
    args = parser.parse_args()
    ports = dict(p.split("=", 1) for p in args.ports)
    if args.shutdown:
        async def shutdown():
            async with connect(f"ws://127.0.0.1:{ports['raw-trusted']}/?token=good") as ws:
                await ws.recv()
                await ws.send("shutdown")
        await check("shutdown message sent", shutdown())
        return
    for name in ["raw", "mp"]:
        mp = name == "mp"
        trusted, untrusted = ports[f"{name}-trusted"], ports[f"{name}-untrusted"]
        await check(f"{name}: accepted by query token",
                    expect_address(untrusted, mp, "127.0.0.1"))
        await check(f"{name}: accepted by Authorization header",
                    expect_address(untrusted, mp, "127.0.0.1", path="/",
                                   headers={"Authorization": "Bearer good"}))
        await check(f"{name}: rejected client receives HTTP 401 with the reason",
                    expect_status(untrusted, "/?token=bad", 401, b"bad token\n"))
        await check(f"{name}: unanswered client receives HTTP 503 after handshake_timeout",
                    expect_status(untrusted, "/?token=slow", 503))
        await check(f"{name}: X-Forwarded-For chain through a trusted proxy gives the client",
                    expect_address(trusted, mp, "1.2.3.4",
                                   headers={"X-Forwarded-For": "1.2.3.4, 127.0.0.1"}))
        await check(f"{name}: Forwarded for= with a quoted IPv6 address and port",
                    expect_address(trusted, mp, "2001:db8::1",
                                   headers={"Forwarded": 'for="[2001:db8::1]:4711";proto=https'}))
        await check(f"{name}: garbage forwarding headers fall back to the TCP address",
                    expect_address(trusted, mp, "127.0.0.1",
                                   headers={"X-Forwarded-For": "not an address, 1.2.3.4,,"}))
        await check(f"{name}: an untrusted client cannot spoof X-Forwarded-For",
                    expect_address(untrusted, mp, "127.0.0.1",
                                   headers={"X-Forwarded-For": "1.2.3.4"}))
        await check(f"{name}: an untrusted client cannot spoof Forwarded",
                    expect_address(untrusted, mp, "127.0.0.1",
                                   headers={"Forwarded": "for=1.2.3.4"}))


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(exit_code())
