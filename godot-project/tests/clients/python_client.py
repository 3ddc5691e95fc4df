#!/usr/bin/env python3
"""Python `websockets` (asyncio) against the echo server in Godot (tests/servers/echo_server.gd).

    python_client.py --url wss://127.0.0.1:PORT --cafile ca.pem [--hostname localhost]
    python_client.py --url ws://127.0.0.1:PORT
    python_client.py --url URL [--cafile F] --quick       one text echo only
    python_client.py --url URL [--cafile F] --shutdown    sends "shutdown": the server quits

Prints one line per check, "ok NAME" or "FAIL NAME: why", and exits 1 if any check failed
(2 for bad arguments). Run by scripts/run-client-tests.sh.
"""

import argparse
import asyncio
import json
import os
import ssl
import sys
import time

import websockets
from websockets.asyncio.client import connect
from checks import check, exit_code, report

CONCURRENT = 20
MESSAGES_PER_CONNECTION = 5
MIB = 1 << 20


def same(what, got, expected):
    if type(got) is not type(expected):
        return f"{what}: expected a {type(expected).__name__}, got a {type(got).__name__}"
    if got != expected:
        def show(value):
            unit = "characters" if isinstance(value, str) else "bytes"
            return repr(value) if len(value) < 60 else f"{len(value)} {unit} starting {value[:16]!r}"
        return f"{what}: expected {show(expected)}, got {show(got)}"
    return None


class Client:
    def __init__(self, url, cafile, hostname):
        self.url = url
        self.ssl = None
        self.hostname = hostname
        if url.startswith("wss://"):
            self.ssl = ssl.create_default_context(cafile=cafile)

    def connect(self, path="", **kwargs):
        kwargs.setdefault("open_timeout", 10)
        kwargs.setdefault("close_timeout", 5)
        kwargs.setdefault("max_size", 4 * MIB)
        kwargs.setdefault("ping_interval", None)  # only the explicit ping of the ping check
        if self.ssl is not None:
            kwargs.setdefault("ssl", self.ssl)
            if self.hostname:
                kwargs.setdefault("server_hostname", self.hostname)
        return connect(self.url + path, **kwargs)


async def echo(ws, message, what):
    await ws.send(message)
    return same(what, await ws.recv(), message)


async def run_all(client, tls):
    async def tls_session():
        async with client.connect() as ws:
            ssl_object = ws.transport.get_extra_info("ssl_object")
            if ssl_object is None:
                return "no TLS session on a wss:// connection"
            if ssl_object.version() not in ("TLSv1.3", "TLSv1.2"):
                return f"TLS version {ssl_object.version()}"
            peer = ssl_object.getpeercert()
            subject = dict(item[0] for item in peer.get("subject", ()))
            if subject.get("commonName") != "localhost":
                return f"server certificate subject {peer.get('subject')}"
            print(f"   {ssl_object.version()} {ssl_object.cipher()[0]}, server certificate CN=localhost, "
                  f"issuer {dict(i[0] for i in peer['issuer']).get('commonName')}", flush=True)
        return None

    async def text_echo():
        async with client.connect() as ws:
            return await echo(ws, "héllo from Python ✓", "text echo")

    async def binary_echo():
        async with client.connect() as ws:
            return await echo(ws, bytes(range(256)) * 40, "binary echo")

    async def empty_message(message):
        # A marker follows the empty message: if the marker's echo comes first, the empty
        # message was not echoed (rather than waiting for a timeout).
        marker = "marker after the empty message"
        async with client.connect() as ws:
            await ws.send(message)
            await ws.send(marker)
            got = await asyncio.wait_for(ws.recv(), 5)
            if got == marker:
                return ("the server never sent the empty message back (the echo of the marker sent "
                        "after it arrived first)")
            return same("empty message echo", got, message) or same("marker echo", await ws.recv(), marker)

    async def mib_echo():
        payload = os.urandom(MIB)
        async with client.connect() as ws:
            started = time.monotonic()
            why = await echo(ws, payload, "1 MiB binary echo")
            if why is None:
                print(f"   1 MiB round trip in {(time.monotonic() - started) * 1000:.0f} ms", flush=True)
            return why

    async def ping_pong():
        async with client.connect() as ws:
            pong = await ws.ping(b"are you there")
            latency = await asyncio.wait_for(pong, 5)
            print(f"   ping latency {latency * 1000:.1f} ms", flush=True)
            # The connection still echoes after the ping.
            return await echo(ws, "after ping", "echo after ping")

    async def request_header():
        async with client.connect("/info?from=python",
                                  additional_headers={"X-Client-Test": "python-123"}) as ws:
            info = json.loads(await ws.recv())
            headers = info.get("headers", {})
            if headers.get("x-client-test") != "python-123":
                return f"the server saw headers {headers}, without x-client-test: python-123"
            if info.get("url") != "/info?from=python":
                return f"the server saw the URL {info.get('url')!r}, expected '/info?from=python'"
            return await echo(ws, "after info", "echo on /info")

    async def close_4000():
        async with client.connect() as ws:
            why = await echo(ws, "before close", "echo before close")
            if why:
                return why
            await ws.close(4000, "bye")
            if ws.close_code != 4000 or ws.close_reason != "bye":
                return f"the server answered the close with {ws.close_code} {ws.close_reason!r}, expected 4000 'bye'"
        return None

    async def concurrent():
        async def one(i):
            async with client.connect() as ws:
                for m in range(MESSAGES_PER_CONNECTION):
                    await ws.send(f"connection {i} message {m}")
                got = [await ws.recv() for _ in range(MESSAGES_PER_CONNECTION)]
                expected = [f"connection {i} message {m}" for m in range(MESSAGES_PER_CONNECTION)]
                return None if got == expected else f"connection {i} got {got}"
        started = time.monotonic()
        results = await asyncio.gather(*(one(i) for i in range(CONCURRENT)), return_exceptions=True)
        wrong = [f"{type(r).__name__}: {r}" if isinstance(r, BaseException) else r
                 for r in results if r is not None]
        if wrong:
            return f"{len(wrong)} of {CONCURRENT} connections failed, first: {wrong[0]}"
        print(f"   {CONCURRENT} connections x {MESSAGES_PER_CONNECTION} echoes in "
              f"{(time.monotonic() - started) * 1000:.0f} ms", flush=True)
        return None

    async def untrusted_refused():
        # Default trust store only: it does not hold the test CA, so verification must fail.
        try:
            async with client.connect(ssl=ssl.create_default_context()):
                return "connected although the client does not trust the test CA"
        except ssl.SSLCertVerificationError as e:
            print(f"   refused as expected: {e.verify_message}", flush=True)
            return None

    async def plain_ws_refused():
        plain_url = "ws://" + client.url[len("wss://"):]
        try:
            async with connect(plain_url, open_timeout=8):
                return "a ws:// client got through to the wss:// server"
        except (websockets.exceptions.InvalidHandshake, websockets.exceptions.InvalidMessage,
                ConnectionError, EOFError, asyncio.TimeoutError, TimeoutError) as e:
            print(f"   refused as expected: {type(e).__name__}", flush=True)
            return None

    prefix = "wss" if tls else "ws"
    if tls:
        await check(f"{prefix}: TLS session (TLS 1.2/1.3, verified certificate CN=localhost)", tls_session())
    await check(f"{prefix}: text echo", text_echo())
    await check(f"{prefix}: binary echo", binary_echo())
    await check(f"{prefix}: empty text message echoed", empty_message(""))
    await check(f"{prefix}: empty binary message echoed", empty_message(b""))
    await check(f"{prefix}: 1 MiB binary echo", mib_echo())
    await check(f"{prefix}: ping answered with pong", ping_pong())
    await check(f"{prefix}: custom request header and URL visible to the server", request_header())
    await check(f"{prefix}: close 4000 'bye' echoed by the server", close_4000())
    await check(f"{prefix}: {CONCURRENT} concurrent connections", concurrent(), timeout=40)
    if tls:
        await check(f"{prefix}: client without the test CA is refused", untrusted_refused())
        await check(f"{prefix}: plain ws:// client against the wss:// server is refused", plain_ws_refused())
        await check(f"{prefix}: text echo after the refused clients", text_echo())


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="ws://HOST:PORT or wss://HOST:PORT")
    parser.add_argument("--cafile", help="PEM file of the CA to trust (wss://)")
    parser.add_argument("--hostname", help="TLS server name to verify instead of the URL's host")
    parser.add_argument("--quick", action="store_true", help="one text echo only")
    parser.add_argument("--shutdown", action="store_true", help='send "shutdown" and expect the server to close')
    args = parser.parse_args()
    tls = args.url.startswith("wss://")
    if tls and not args.cafile:
        parser.error("--cafile is required for wss://")
    client = Client(args.url.rstrip("/"), args.cafile, args.hostname)
    prefix = "wss" if tls else "ws"
    name_suffix = f" (as {args.hostname})" if args.hostname else ""

    if args.shutdown:
        async def shutdown():
            async with client.connect() as ws:
                await ws.send("shutdown")
                try:
                    await asyncio.wait_for(ws.recv(), 5)
                    return "the server echoed 'shutdown' instead of quitting"
                except websockets.exceptions.ConnectionClosed:
                    return None
        await check(f"{prefix}: 'shutdown' closes the connection", shutdown())
    elif args.quick:
        async def quick():
            async with client.connect() as ws:
                return await echo(ws, "quick", "text echo")
        await check(f"{prefix}: text echo{name_suffix}", quick())
    else:
        await run_all(client, tls)
    return exit_code()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
