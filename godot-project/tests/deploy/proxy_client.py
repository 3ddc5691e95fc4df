#!/usr/bin/env python3
"""Python `websockets` through nginx (docs/deploy/nginx-game.conf) to the game server of
docs/deploy/game_server.gd, for scripts/test-deploy-nginx.sh.

    proxy_client.py echo --url ws://127.0.0.1:P/game/ --proto http [--cafile CA] [--direct]
    proxy_client.py redirect --url ws://127.0.0.1:P/game
    proxy_client.py http --url http://127.0.0.1:P --acme-token NAME --acme-body TEXT
    proxy_client.py idle --url wss://127.0.0.1:P/game/ --cafile CA --timeout 2
    proxy_client.py reload --url wss://127.0.0.1:P/game/ --cafile CA --nginx-pid PID

Connections come from SOURCE (default 127.0.0.2, another loopback address) so that the player's
address differs from the proxy's (127.0.0.1), and claim to be 203.0.113.66 in their own
X-Forwarded-For and X-Real-IP headers, which the proxy must replace. Prints "ok NAME" or
"FAIL NAME: why" per check; exits 1 if any check failed.
"""

import argparse
import asyncio
import http.client
import json
import os
import signal
import ssl
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients"))
from checks import check, exit_code, report  # noqa: E402 (after the path above)

SPOOFED = "203.0.113.66"


class Client:
    def __init__(self, args):
        self.url = args.url
        self.source = args.source
        self.ssl = None
        if self.url.startswith("wss:"):
            self.ssl = ssl.create_default_context(cafile=args.cafile)

    def connect(self, path="", **kwargs):
        kwargs.setdefault("ping_interval", None)
        kwargs.setdefault("max_size", 1 << 20)
        kwargs.setdefault("open_timeout", 10)
        kwargs.setdefault("close_timeout", 5)
        kwargs.setdefault("additional_headers", {"X-Forwarded-For": SPOOFED, "X-Real-IP": SPOOFED})
        if self.ssl is not None:
            kwargs["ssl"] = self.ssl
        # No HTTP proxy from the environment: the point is to reach this nginx.
        return connect(self.url + path, proxy=None, local_addr=(self.source, 0), **kwargs)


def differs(what, got, expected):
    return None if got == expected else f"{what}: expected {expected!r}, got {got!r}"


async def whoami(ws):
    await ws.send("whoami")
    return json.loads(await ws.recv())


async def closed_cleanly(ws):
    """Closes with 1000 and checks that the server's answer, 1000, came back."""
    await ws.close(1000, "bye")
    received = ws.protocol.close_rcvd
    if received is None:
        return "no close frame came back (the connection just ended)"
    return differs("close code received", received.code, 1000)


# ------------------------------------------------------------------ echo
async def run_echo(args):
    client = Client(args)
    tag = args.label
    expected_client = args.source

    async def headers_check():
        async with client.connect("lobby?room=7") as ws:
            info = await whoami(ws)
            if args.direct:
                expected = {"path": "/lobby?room=7", "client_address": expected_client,
                            "peer_address": expected_client}
            else:
                expected = {"path": "/lobby?room=7", "client_address": expected_client,
                            "peer_address": "127.0.0.1", "x-real-ip": expected_client,
                            "x-forwarded-for": expected_client, "x-forwarded-proto": args.proto}
            for key, value in expected.items():
                why = differs(key, info.get(key), value)
                if why:
                    return f"{why} (the server saw {info})"
            return await closed_cleanly(ws)

    what = ("the server sees the player's address, not the headers the player sent"
            if args.direct else
            "the server sees /lobby?room=7 for /game/lobby?room=7, the player's address in "
            "X-Real-IP and X-Forwarded-For (not the spoofed ones), the proxy as TCP peer, "
            f"X-Forwarded-Proto {args.proto}")
    await check(f"{tag}: {what}", headers_check())

    async def echo_check(payload):
        async with client.connect() as ws:
            await ws.send(payload)
            got = await ws.recv()
            if type(got) is not type(payload):
                return f"sent a {type(payload).__name__}, got a {type(got).__name__} back"
            if got != payload:
                return f"echo differs (sent {len(payload)}, got {len(got)})"
            return await closed_cleanly(ws)

    await check(f"{tag}: text echo, close code 1000 back", echo_check("hello through the proxy"))
    await check(f"{tag}: binary echo, close code 1000 back", echo_check(bytes(range(256)) * 4))
    big = os.urandom(64 * 1024)
    await check(f"{tag}: 64 KiB binary message echoed", echo_check(big))
    await check(f"{tag}: 64 KiB text message echoed", echo_check("é" * (32 * 1024)))

    async def many_check():
        async with client.connect() as ws:
            for i in range(200):
                await ws.send(f"message {i}")
            for i in range(200):
                why = differs(f"echo {i}", await ws.recv(), f"message {i}")
                if why:
                    return why
            return await closed_cleanly(ws)

    await check(f"{tag}: 200 messages in flight come back in order", many_check())


# ------------------------------------------------------------------ redirect
def run_redirect(args):
    """The upgrade request itself, sent by hand: Python websockets would follow the redirect."""
    host, port = args.url.removeprefix("ws://").split("/", 1)[0].split(":")
    path = "/" + args.url.removeprefix("ws://").split("/", 1)[1]
    conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(args.source, 0))
    conn.request("GET", path, headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    response = conn.getresponse()
    location = response.getheader("Location", "")
    conn.close()
    report(f"{args.label}: {path} without the trailing slash gets a 301, not the upgrade (clients must use {path}/)",
           None if response.status == 301 and location.endswith(path + "/")
           else f"got {response.status} {location!r}")


# ------------------------------------------------------------------ plain HTTP server block
def run_http(args):
    host, port = args.url.removeprefix("http://").split(":")

    def get(path):
        conn = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(args.source, 0))
        conn.request("GET", path, headers={"Host": "game.example.com"})
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return response.status, response.getheader("Location", ""), body

    status, location, _ = get("/game/")
    expected = "https://game.example.com/game/"
    report(f"{args.label}: port 80 sends /game/ to {expected} (301)",
           None if (status, location) == (301, expected) else f"got {status} {location!r}")
    status, _, body = get(f"/.well-known/acme-challenge/{args.acme_token}")
    report(f"{args.label}: port 80 serves /.well-known/acme-challenge/ for certbot --webroot",
           None if (status, body.decode(errors="replace")) == (200, args.acme_body)
           else f"got {status} {body[:40]!r}")


# ------------------------------------------------------------------ idle timeout
async def run_idle(args):
    client = Client(args)
    limit = args.timeout

    async def silent_check():
        async with client.connect() as ws:
            started = time.monotonic()
            try:
                await asyncio.wait_for(ws.recv(), limit * 3 + 2)
                return "received a message although nothing was sent"
            except asyncio.TimeoutError:
                return f"still open after {limit * 3 + 2:.0f} s"
            except ConnectionClosed:
                pass
            after = time.monotonic() - started
            if not limit - 0.5 <= after <= limit + 2:
                return f"closed after {after:.1f} s, expected about {limit:.0f} s"
            if ws.protocol.close_rcvd is not None:
                return f"expected no close frame, got code {ws.protocol.close_rcvd.code}"
            print(f"      (silent connection cut after {after:.1f} s, no close frame: code 1006)")
            return None

    async def keepalive_check(kind):
        async with client.connect() as ws:
            started = time.monotonic()
            while time.monotonic() - started < limit * 2.5:
                if kind == "ping":
                    waiter = await ws.ping()
                    await asyncio.wait_for(waiter, limit)  # the server answers each ping
                else:
                    await ws.pong(b"keep-alive")  # unsolicited: nothing comes back
                await asyncio.sleep(limit / 4)
            await ws.send("still here")
            why = differs("echo", await ws.recv(), "still here")
            return why or await closed_cleanly(ws)

    results = await asyncio.gather(
        check(f"{args.label}: a silent connection is cut after proxy_read_timeout ({limit:.0f} s)",
              silent_check()),
        check(f"{args.label}: a client pinging every {limit / 4:.1f} s stays connected for "
              f"{limit * 2.5:.0f} s (the server answers pings)", keepalive_check("ping")),
        check(f"{args.label}: client-to-server traffic alone (unanswered pongs) also keeps it open",
              keepalive_check("pong")),
    )
    return results


# ------------------------------------------------------------------ nginx -s reload
async def run_reload(args):
    client = Client(args)

    async def reload_check():
        async with client.connect() as ws:
            await ws.send("before reload")
            why = differs("echo before the reload", await ws.recv(), "before reload")
            if why:
                return why
            os.kill(args.nginx_pid, signal.SIGHUP)  # what `nginx -s reload` sends
            await asyncio.sleep(1.5)
            await ws.send("after reload")
            why = differs("echo after the reload, same connection", await ws.recv(), "after reload")
            if why:
                return why
            async with client.connect() as ws2:
                await ws2.send("new connection")
                why = differs("echo on a new connection", await ws2.recv(), "new connection")
                why = why or await closed_cleanly(ws2)
                if why:
                    return why
            return await closed_cleanly(ws)

    await check(f"{args.label}: nginx reload (SIGHUP) keeps the open connection; new ones work",
                reload_check())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["echo", "redirect", "http", "idle", "reload"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--cafile")
    parser.add_argument("--source", default="127.0.0.2")
    parser.add_argument("--label", default="")
    parser.add_argument("--proto", default="http")
    parser.add_argument("--direct", action="store_true", help="no proxy: the server is the peer")
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--nginx-pid", type=int)
    parser.add_argument("--acme-token", default="token")
    parser.add_argument("--acme-body", default="")
    args = parser.parse_args()
    args.label = args.label or f"{args.mode} {args.url}"
    if args.url.startswith("wss:") and not args.cafile:
        parser.error("wss:// needs --cafile")
    if args.mode == "http":
        run_http(args)
    elif args.mode == "redirect":
        run_redirect(args)
    else:
        runner = {"echo": run_echo, "idle": run_idle, "reload": run_reload}[args.mode]
        if args.mode == "reload" and not args.nginx_pid:
            parser.error("reload needs --nginx-pid")
        asyncio.run(runner(args))
    sys.exit(exit_code())


if __name__ == "__main__":
    main()
