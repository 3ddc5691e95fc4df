#!/usr/bin/env python3
"""Hostile clients against the server inside Godot (tests/servers/hostile_server.gd).

    hostile_client.py --server NAME=ws://127.0.0.1:PORT,PID,MODE [--server ...] \
        --handshake-timeout S [--clients N] [--only SUBSTRING] [--json FILE]

NAME labels the server in the table (e.g. ws-raw), MODE is raw or mp, PID the Godot process
whose memory and file descriptors are watched. Every case asserts three things:
  1. its stated outcome (an HTTP status, a close code, or the TCP connection dropped) within a
     stated time;
  2. a well-behaved client (Python `websockets`), connected before the case starts, gets its
     echo round trips (one every ECHO_INTERVAL_S) during the case with no gap over the case's
     bound, and a final echo after it;
  3. the Godot process's peak RSS (VmHWM, reset before the case through /proc/PID/clear_refs,
     with VmRSS samples as a fallback) grows by less than the case's bound, and its open file
     descriptors come back to what they were before the case.
Prints one "ok NAME" / "FAIL NAME: why" line per case (tests/clients/checks.py), a table line
per case, and writes the table as JSON (--json). Run by scripts/run-hostile-tests.sh.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import ssl
import struct
import sys
import time

from websockets.asyncio.client import connect

from checks import exit_code, report

MIB = 1 << 20
ECHO_INTERVAL_S = 0.15
ECHO_TIMEOUT_S = 10.0
FD_SETTLE_S = 15.0
# The server's default inbound limit, which is also the largest message it accepts (README,
# "Limits and defaults"); hostile_server.gd keeps the defaults.
MAX_MESSAGE = 1 * MIB
UPGRADE_KEY = base64.b64encode(b"hostile-key-0123").decode()


class CaseFailed(Exception):
    """The case's stated outcome did not happen."""


# ------------------------------------------------------------------ the Godot process


class Process:
    """Memory and file descriptors of the server process, from /proc."""

    def __init__(self, pid):
        self.pid = pid

    def status(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise CaseFailed(f"no {field} in /proc/{self.pid}/status")

    def rss(self):
        return self.status("VmRSS")

    def hwm(self):
        return self.status("VmHWM")

    def reset_hwm(self):
        """Resets VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def alive(self):
        return os.path.exists(f"/proc/{self.pid}/status")


class RssSampler:
    """Samples VmRSS every 20 ms: the peak when VmHWM cannot be reset."""

    def __init__(self, process):
        self.process = process
        self.peak = process.rss()
        self.task = asyncio.create_task(self.run())

    async def run(self):
        while True:
            try:
                self.peak = max(self.peak, self.process.rss())
            except (OSError, CaseFailed):
                return
            await asyncio.sleep(0.02)

    async def stop(self):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


# ------------------------------------------------------------------ the well-behaved client


class EchoClient:
    """A `websockets` client doing one echo round trip every ECHO_INTERVAL_S."""

    def __init__(self, server):
        self.server = server
        self.completions = []
        self.error = None
        self.ws = None
        self.task = None
        self.counter = 0
        self.stopping = False

    async def start(self):
        self.ws = await self.server.connect_ws()
        await self.round_trip()
        self.task = asyncio.create_task(self.run())

    async def round_trip(self):
        self.counter += 1
        payload = b"echo %08d " % self.counter + bytes(random.getrandbits(8) for _ in range(16))
        await self.ws.send(payload)
        got = await asyncio.wait_for(self.ws.recv(), ECHO_TIMEOUT_S)
        if got != payload:
            raise CaseFailed(f"echo client: sent {payload!r}, got {got[:40]!r}")
        self.completions.append(time.monotonic())

    async def run(self):
        try:
            while not self.stopping:
                await asyncio.sleep(ECHO_INTERVAL_S)
                await self.round_trip()
        except Exception as e:  # noqa: BLE001 - any failure of the echo client is reported
            self.error = f"{type(e).__name__}: {e}"

    async def finish(self, since):
        """Stops the loop (after its round trip in flight), does a final echo; returns (max gap
        in ms since `since`, error)."""
        self.stopping = True
        await self.task
        if self.error is None:
            try:
                await self.round_trip()
            except Exception as e:  # noqa: BLE001
                self.error = f"final echo: {type(e).__name__}: {e}"
        times = [since] + [t for t in self.completions if t >= since]
        gap = max((b - a for a, b in zip(times, times[1:])), default=0.0)
        try:
            await asyncio.wait_for(self.ws.close(), 5)
        except Exception:  # noqa: BLE001 - closing is not what is checked
            pass
        return gap * 1000, self.error


# ------------------------------------------------------------------ raw connections


class Server:
    """One server under test: its address, mode (raw or mp), TLS and process."""

    def __init__(self, name, url, pid, mode, handshake_timeout, clients):
        self.name = name
        self.tls = url.startswith("wss://")
        hostport = url.split("://", 1)[1].rstrip("/")
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.url = url
        self.mode = mode
        self.process = Process(pid)
        self.handshake_timeout = handshake_timeout
        self.clients = clients
        self.ssl = None
        if self.tls:
            self.ssl = ssl.create_default_context()
            self.ssl.check_hostname = False
            self.ssl.verify_mode = ssl.CERT_NONE
        self.control = None

    async def connect_ws(self):
        ws = await connect(self.url, ssl=self.ssl, open_timeout=10, close_timeout=5,
                           ping_interval=None, max_size=4 * MIB)
        if self.mode == "mp":
            first = await asyncio.wait_for(ws.recv(), 10)
            if not isinstance(first, bytes) or len(first) != 4:
                raise CaseFailed(f"multiplayer: first message is not a 4-byte id: {first!r}")
        return ws

    async def command(self, text):
        """Sends a ctl: command on the control connection and returns the answer."""
        if self.control is None:
            self.control = await self.connect_ws()
        await self.control.send(("ctl:" + text).encode() if self.mode == "mp" else "ctl:" + text)
        answer = await asyncio.wait_for(self.control.recv(), 10)
        return answer.decode() if isinstance(answer, bytes) else answer

    async def stats(self):
        return json.loads(await self.command("stats"))

    async def open(self, tls=None, source=None):
        """A TCP connection (TLS handshake done when `tls`, default: the server's scheme)."""
        tls = self.tls if tls is None else tls
        return await asyncio.wait_for(asyncio.open_connection(
            self.host, self.port, ssl=self.ssl if tls else None,
            server_hostname="localhost" if tls else None,
            local_addr=(source, 0) if source else None), 10)

    async def upgrade(self, source=None, path="/", extra=b""):
        """A connection that completed the upgrade (and got its id in multiplayer mode)."""
        reader, writer = await self.open(source=source)
        writer.write(request(path) + extra)
        status = await read_status(reader, 10)
        if status != 101:
            writer.close()
            raise CaseFailed(f"upgrade answered with HTTP {status}")
        if self.mode == "mp" and not extra:
            opcode, payload = await read_frame(reader, 10)
            if opcode != 2 or len(payload) != 4:
                raise CaseFailed(f"multiplayer: first frame is not a 4-byte id ({opcode}, {payload!r})")
        return reader, writer


def request(path="/", host="127.0.0.1"):
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {UPGRADE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
    """A client frame; `length` overrides the declared payload length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def masked_fast(opcode, payload, fin=True):
    """frame() for large payloads: the zero mask keeps the payload as it is."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + b"\0\0\0\0" + payload


async def read_status(reader, timeout):
    """The HTTP status of the response head, or None when the connection ended first."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        return None
    except asyncio.LimitOverrunError:
        raise CaseFailed("response head over 64 KiB")
    parts = head.split(b" ", 2)
    if not head.startswith(b"HTTP/1.1 ") or len(parts) < 2 or not parts[1].isdigit():
        raise CaseFailed(f"not an HTTP response: {head[:40]!r}")
    return int(parts[1])


async def read_frame(reader, timeout):
    async def read():
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await reader.readexactly(8))
        if b1 & 0x80:
            raise CaseFailed("the server sent a masked frame")
        return b0 & 0x0F, await reader.readexactly(n)
    return await asyncio.wait_for(read(), timeout)


async def read_end(reader, timeout):
    """Reads frames until a close frame or the end of the connection, at most `timeout` s.

    Returns ("close", code) (1005 for a close frame without a code), ("EOF", None),
    ("reset", None) or ("open", None) when nothing ended within the time.
    """
    try:
        while True:
            opcode, payload = await read_frame(reader, timeout)
            if opcode == 8:
                return "close", struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    except asyncio.TimeoutError:
        return "open", None
    except asyncio.IncompleteReadError:
        return "EOF", None
    except (ConnectionError, ssl.SSLError):
        return "reset", None


async def wait_dropped(reader, timeout):
    """Reads and discards until EOF or reset; returns (how, bytes received) or ("open", n)."""
    got = 0
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                return "EOF", got
            got += len(chunk)
    except asyncio.TimeoutError:
        return "open", got
    except (ConnectionError, ssl.SSLError):
        return "reset", got


def close_quietly(writer):
    try:
        writer.close()
    except Exception:  # noqa: BLE001
        pass


def rst(writer):
    """Closes with SO_LINGER 0: the kernel sends a RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


async def send_quietly(writer, data):
    """Writes `data`; False when the server already closed the connection."""
    try:
        writer.write(data)
        await writer.drain()
        return True
    except (ConnectionError, ssl.SSLError, OSError):
        return False


def ms(seconds):
    return f"{seconds * 1000:.0f} ms"


async def gather_limited(coroutines, limit=200):
    semaphore = asyncio.Semaphore(limit)

    async def one(c):
        async with semaphore:
            return await c
    return await asyncio.gather(*(one(c) for c in coroutines), return_exceptions=True)


# ------------------------------------------------------------------ the cases
# Each case is `async def case(server) -> str`: it returns the observed outcome in words, or
# raises CaseFailed when the outcome is not the stated one.


async def expect_http(server, data, statuses, within=5.0, tls=None):
    """Sends `data` (while reading) and expects one of `statuses`, then the connection closed."""
    reader, writer = await server.open(tls=tls)
    started = time.monotonic()
    sender = asyncio.create_task(send_quietly(writer, data))
    status = await read_status(reader, within)
    elapsed = time.monotonic() - started
    how, _ = await wait_dropped(reader, within)
    sender.cancel()
    close_quietly(writer)
    if status not in statuses:
        raise CaseFailed(f"expected HTTP {'/'.join(map(str, statuses))}, got {status or 'no answer'}")
    if how == "open":
        raise CaseFailed(f"HTTP {status}, but the connection stayed open {within:.0f} s after")
    if elapsed > within:
        raise CaseFailed(f"HTTP {status} after {ms(elapsed)} (bound {within:.0f} s)")
    return f"HTTP {status} in {ms(elapsed)}, then closed"


async def expect_close(server, payload, codes, within=5.0, allow_drop=False, chunks=None):
    """Upgrades, sends `payload` (or the `chunks` iterator, stopping once the server closes)
    and expects a close frame with one of `codes` (or the connection dropped if `allow_drop`)."""
    reader, writer = await server.upgrade()
    started = time.monotonic()
    sent = 0

    async def send_all():
        nonlocal sent
        for chunk in (chunks() if chunks else [payload]):
            if not await send_quietly(writer, chunk):
                return
            sent += len(chunk)
    sender = asyncio.create_task(send_all())
    how, code = await read_end(reader, within)
    elapsed = time.monotonic() - started
    sender.cancel()
    close_quietly(writer)
    detail = f" after {sent / MIB:.1f} MiB sent" if chunks else ""
    if how == "close" and code in codes:
        return f"close {code} in {ms(elapsed)}{detail}"
    if allow_drop and how in ("EOF", "reset"):
        return f"dropped ({how}) in {ms(elapsed)}{detail}"
    raise CaseFailed(f"expected close {'/'.join(map(str, codes))}, got {how} {code or ''} after {ms(elapsed)}")


async def case_garbage_http(server):
    return await expect_http(server, os.urandom(4096) + b"\r\n\r\n", {400})


async def case_huge_request_line(server):
    return await expect_http(server, b"GET /" + b"a" * MIB + b" HTTP/1.1\r\nHost: x\r\n\r\n", {431})


async def case_many_headers(server):
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(20000))
    return await expect_http(server, request()[:-2] + headers + b"\r\n", {431})


async def case_plain_get(server):
    return await expect_http(server, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", {426})


async def case_unmasked(server):
    return await expect_close(server, frame(2, b"unmasked", mask=False), {1002})


async def case_bad_utf8(server):
    return await expect_close(server, frame(1, b"ok \xc3\x28 \xff\xfe"), {1007})


async def case_huge_header(server):
    # A binary frame declaring 2^40 payload bytes, then a little of it.
    return await expect_close(server, frame(2, os.urandom(1024), length=1 << 40)[:2 + 8 + 4 + 1024],
                              {1009}, allow_drop=True)


async def case_64mib_message(server):
    # 64 MiB in 1,024 fragments of 64 KiB, sent as long as the server reads.
    piece = os.urandom(64 * 1024)

    def chunks():
        for i in range(1024):
            yield masked_fast(2 if i == 0 else 0, piece, fin=i == 1023)
    return await expect_close(server, None, {1009}, within=20, chunks=chunks)


async def case_oversize_frame(server):
    # One binary frame one byte over the largest message (1 MiB), sent whole.
    return await expect_close(server, masked_fast(2, os.urandom(MAX_MESSAGE + 1)), {1009})


async def case_reserved_opcode(server):
    return await expect_close(server, frame(3, b"reserved data opcode"), {1002})


async def case_reserved_control_opcode(server):
    return await expect_close(server, frame(0xB, b"reserved control opcode"), {1002})


async def case_rsv_bits(server):
    return await expect_close(server, frame(2, b"rsv1 without an extension", rsv=4), {1002})


async def case_fragmented_ping(server):
    return await expect_close(server, frame(9, b"half a ping", fin=False) + frame(0, b"rest"), {1002})


async def case_long_ping(server):
    return await expect_close(server, frame(9, b"p" * 126), {1002})


def close_case(code):
    async def case(server):
        return await expect_close(server, frame(8, struct.pack("!H", code) + b"bye"), {1002})
    return case


async def case_close_one_byte(server):
    return await expect_close(server, frame(8, b"\x03"), {1002})


async def case_ping_flood(server):
    # 200,000 pings of 125 bytes (26 MB), nothing read until the writes stall (the server must
    # stop reading rather than queue pongs without bound) or all is written; then the pongs.
    pings = int(os.environ.get("HOSTILE_PINGS", "200000"))
    reader, writer = await server.upgrade()
    started = time.monotonic()
    batch = b"".join(frame(9, b"%05d" % i + b"p" * 120) for i in range(1000))
    written = 0

    async def send():
        nonlocal written
        for _ in range(pings // 1000):
            if not await send_quietly(writer, batch):
                return False
            written += 1000
        return await send_quietly(writer, frame(2, b"after the flood"))
    sender = asyncio.create_task(send())
    last, last_change = -1, time.monotonic()
    while not sender.done() and time.monotonic() - last_change < 1.0:
        if written != last:
            last, last_change = written, time.monotonic()
        await asyncio.sleep(0.01)
    stalled_at = None if sender.done() else written
    pongs = 0
    end = None
    try:
        while True:
            opcode, payload = await read_frame(reader, 10)
            if opcode == 10:
                pongs += 1
            elif opcode == 2 and payload == b"after the flood":
                end = "echo after the flood"
                break
            elif opcode == 8:
                end = f"close {struct.unpack('!H', payload[:2])[0] if len(payload) >= 2 else 1005}"
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError) as e:
        end = f"{type(e).__name__}"
    elapsed = time.monotonic() - started
    sent_all = await sender
    close_quietly(writer)
    if stalled_at is None:
        raise CaseFailed(f"all {pings} pings were taken without a pong read (pongs queued without bound)")
    if end != "echo after the flood" or not sent_all:
        raise CaseFailed(f"{pongs} pongs, then {end} (all sent: {sent_all})")
    if pongs != pings:
        raise CaseFailed(f"{pongs} pongs for {pings} pings")
    return (f"writes stalled after {stalled_at:,} pings until pongs were read; then {pongs:,} pongs "
            f"for {pings:,} pings and the echo ({elapsed:.1f} s)")


async def case_never_reads(server):
    # The client asks to be flooded with 64 KiB messages and never reads a byte.
    reader, writer = await server.open()
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(request())
    if await read_status(reader, 10) != 101:
        raise CaseFailed("no 101")
    writer.write(frame(2 if server.mode == "mp" else 1, b"ctl:flood"))
    await writer.drain()
    before = await server.stats()
    await asyncio.sleep(3.0)
    during = await server.stats()
    refused = during["flood_refused"] - before["flood_refused"]
    queued = during["queued_out_bytes"]
    rst(writer)
    if refused == 0:
        raise CaseFailed(f"no send was refused in 3 s ({during['flood_sent']} sent, {queued} bytes queued)")
    if queued > 2 * MIB:
        raise CaseFailed(f"{queued} bytes queued for a client that never reads (limit 1 MiB)")
    return (f"sends refused (ERR_OUT_OF_MEMORY) x{refused} in 3 s, "
            f"{queued / MIB:.2f} MiB queued (limit 1 MiB); dropped by the client")


async def case_sends_never_reads(server):
    # 8 MiB in 1 KiB binary messages, the echoes never read: the echoes beyond the outbound
    # limit are refused to the script, and nothing piles up.
    reader, writer = await server.open()
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(request())
    if await read_status(reader, 10) != 101:
        raise CaseFailed("no 101")
    before = await server.stats()
    started = time.monotonic()
    batch = b"".join(masked_fast(2, b"m" * 1024) for _ in range(1024))
    sent = 0
    for _ in range(8):
        if not await send_quietly(writer, batch):
            break
        sent += len(batch)
    # Until the server has read it all: fewer than 100 messages in half a second (the echo
    # client and these queries count too), at most 60 s.
    last = -1000
    deadline = time.monotonic() + 60
    while True:
        now = (await server.stats())["messages_in"]
        if now - last < 100:
            break
        if time.monotonic() > deadline:
            raise CaseFailed(f"the server still reads after 60 s ({now - before['messages_in']} messages)")
        last = now
        await asyncio.sleep(0.5)
    during = await server.stats()
    elapsed = time.monotonic() - started
    rst(writer)
    refused = during["echo_refused"] - before["echo_refused"]
    taken = during["messages_in"] - before["messages_in"]
    if refused == 0:
        raise CaseFailed(f"{taken} messages taken, no echo refused")
    if during["queued_out_bytes"] > 2 * MIB:
        raise CaseFailed(f"{during['queued_out_bytes']} bytes queued out (limit 1 MiB)")
    return (f"{sent / MIB:.0f} MiB written, {taken:,} messages taken, {refused:,} echoes refused "
            f"(outbound queue full), {during['queued_out_bytes'] / MIB:.2f} MiB queued ({elapsed:.1f} s)")


async def timed_drop(reader, writer, started, timeout):
    how, _ = await wait_dropped(reader, timeout)
    close_quietly(writer)
    return how, time.monotonic() - started


async def case_silent_connections(server, count=1000):
    before = (await server.stats())["handshake_timeouts_total"]
    started = time.monotonic()
    conns = await gather_limited([server.open(tls=False) for _ in range(count)])
    opened = [c for c in conns if not isinstance(c, BaseException)]
    if len(opened) != count:
        errors = [c for c in conns if isinstance(c, BaseException)]
        for reader, writer in opened:
            close_quietly(writer)
        raise CaseFailed(f"only {len(opened)} of {count} connected: {errors[0]!r}")
    bound = server.handshake_timeout + 5
    results = await asyncio.gather(*(timed_drop(r, w, started, bound) for r, w in opened))
    still_open = sum(1 for how, _ in results if how == "open")
    times = [t for how, t in results if how != "open"]
    after = (await server.stats())["handshake_timeouts_total"]
    if still_open:
        raise CaseFailed(f"{still_open} of {count} still open after {bound:.0f} s")
    if min(times) < server.handshake_timeout - 0.5:
        raise CaseFailed(f"one dropped after {ms(min(times))}, before the handshake timeout")
    if after - before < count:
        raise CaseFailed(f"handshake_timeouts_total grew by {after - before}, not {count}")
    return (f"all {count} dropped at the handshake timeout ({min(times):.1f}-{max(times):.1f} s), "
            f"handshake_timeouts_total +{after - before}")


async def slowloris(server, tls, count=5):
    async def one():
        reader, writer = await server.open(tls=tls)
        started = time.monotonic()
        data = request()

        async def drip():
            for i in range(len(data)):
                if not await send_quietly(writer, data[i:i + 1]):
                    return
                await asyncio.sleep(1.0)
        dripper = asyncio.create_task(drip())
        status = await read_status(reader, server.handshake_timeout + 5)
        how, _ = await wait_dropped(reader, 5)
        elapsed = time.monotonic() - started
        dripper.cancel()
        close_quietly(writer)
        return status, how, elapsed
    results = await asyncio.gather(*(one() for _ in range(count)))
    times = [t for _, _, t in results]
    bad = [r for r in results if r[0] is not None or r[1] == "open"]
    if bad:
        raise CaseFailed(f"not dropped without an answer: {bad[0]}")
    if min(times) < server.handshake_timeout - 0.5 or max(times) > server.handshake_timeout + 5:
        raise CaseFailed(f"dropped after {min(times):.1f}-{max(times):.1f} s, handshake timeout {server.handshake_timeout} s")
    return f"{count} of {count} dropped at the handshake timeout ({min(times):.1f}-{max(times):.1f} s)"


async def case_slowloris(server):
    return await slowloris(server, tls=None)


async def case_connect_rst(server, count=2000):
    started = time.monotonic()

    async def one():
        reader, writer = await server.open(tls=False)
        rst(writer)
    results = await gather_limited([one() for _ in range(count)])
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise CaseFailed(f"{len(errors)} of {count} could not connect: {errors[0]!r}")
    return f"{count} connections reset at once in {ms(time.monotonic() - started)}"


async def case_many_clients(server):
    count = server.clients
    started = time.monotonic()

    async def one(i):
        # Spread over 127.0.0.0/8 source addresses: 28,000 ephemeral ports per address pair.
        return await server.upgrade(source=f"127.0.{1 + i // 250}.{1 + i % 250}")
    results = await gather_limited([one(i) for i in range(count)], limit=100 if server.tls else 200)
    conns = [r for r in results if not isinstance(r, BaseException)]
    upgraded_in = time.monotonic() - started
    stats = await server.stats()
    for reader, writer in conns:
        writer.write(frame(8, struct.pack("!H", 1000)))
    for reader, writer in conns:
        close_quietly(writer)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise CaseFailed(f"{len(errors)} of {count} did not upgrade: {errors[0]!r}")
    if stats["connections"] < count:
        raise CaseFailed(f"the server counts {stats['connections']} connections with {count} open")
    return f"{count} of {count} upgraded (101) in {upgraded_in:.1f} s, all open at once, then closed"


async def case_limits(server):
    base = (await server.stats())["connections"]
    limit = 30
    per_ip = 10
    held = []
    try:
        await server.command(f"limits {base + limit} 0")
        for i in range(limit):
            held.append(await server.upgrade(source="127.0.3.1"))
        over = await refused(server, "127.0.3.2")
        for _, writer in held:
            close_quietly(writer)
        held.clear()
        await asyncio.sleep(0.5)
        await server.command(f"limits 0 {per_ip}")
        for i in range(per_ip):
            held.append(await server.upgrade(source="127.0.4.1"))
        over_ip = await refused(server, "127.0.4.1")
        other = await server.upgrade(source="127.0.4.2")
        held.append(other)
        return (f"max_connections {base + limit}: the next one {over}; "
                f"max_connections_per_ip {per_ip}: the 11th from one address {over_ip}, "
                f"another address upgraded")
    finally:
        for _, writer in held:
            close_quietly(writer)
        await server.command("limits 0 0")


async def refused(server, source):
    """A connection over a limit: HTTP 503 on ws://, closed before TLS on wss://."""
    started = time.monotonic()
    if server.tls:
        try:
            reader, writer = await server.open(source=source)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as e:
            return f"closed before TLS ({type(e).__name__}) in {ms(time.monotonic() - started)}"
        close_quietly(writer)
        raise CaseFailed("a connection over the limit completed its TLS handshake")
    reader, writer = await server.open(source=source)
    writer.write(request())
    status = await read_status(reader, 5)
    close_quietly(writer)
    if status != 503:
        raise CaseFailed(f"a connection over the limit got HTTP {status}, not 503")
    return f"got HTTP 503 in {ms(time.monotonic() - started)}"


# wss only


async def case_tls_garbage(server):
    reader, writer = await server.open(tls=False)
    started = time.monotonic()
    await send_quietly(writer, os.urandom(4096))
    how, got = await wait_dropped(reader, 5)
    close_quietly(writer)
    if how == "open":
        raise CaseFailed("still open 5 s after 4 KiB of garbage")
    return f"dropped ({how}, {got} bytes of TLS alert) in {ms(time.monotonic() - started)}"


def client_hello():
    """The bytes of a real TLS ClientHello, from Python's ssl module."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


async def case_truncated_client_hello(server):
    hello = client_hello()
    reader, writer = await server.open(tls=False)
    started = time.monotonic()
    await send_quietly(writer, hello[:len(hello) // 2])
    how, got = await wait_dropped(reader, server.handshake_timeout + 5)
    elapsed = time.monotonic() - started
    close_quietly(writer)
    if how == "open":
        raise CaseFailed(f"still open {server.handshake_timeout + 5:.0f} s after half a ClientHello")
    if elapsed < server.handshake_timeout - 0.5:
        raise CaseFailed(f"dropped after {ms(elapsed)}, before the handshake timeout")
    return f"half a ClientHello ({len(hello) // 2} of {len(hello)} bytes): dropped ({how}) at the handshake timeout ({elapsed:.1f} s)"


async def case_tls_then_garbage(server):
    return await expect_http(server, os.urandom(4096) + b"\r\n\r\n", {400}, tls=True)


# multiplayer only


async def case_packet_before_101(server):
    # The request and a binary packet in one write, before the 101 is read.
    reader, writer = await server.open()
    started = time.monotonic()
    writer.write(request() + frame(2, b"early packet"))
    status = await read_status(reader, 5)
    first = await read_frame(reader, 5)
    second = await read_frame(reader, 5)
    close_quietly(writer)
    if status != 101 or first[0] != 2 or len(first[1]) != 4 or second != (2, b"early packet"):
        raise CaseFailed(f"got HTTP {status}, then {first!r}, then {second!r}")
    return f"101, the id first, then the packet's echo ({ms(time.monotonic() - started)})"


async def case_packet_before_id(server):
    # A packet right after the 101, before the id message is read.
    reader, writer = await server.open()
    started = time.monotonic()
    writer.write(request())
    status = await read_status(reader, 5)
    writer.write(frame(2, b"packet before the id"))
    first = await read_frame(reader, 5)
    second = await read_frame(reader, 5)
    close_quietly(writer)
    if status != 101 or first[0] != 2 or len(first[1]) != 4 or second != (2, b"packet before the id"):
        raise CaseFailed(f"got HTTP {status}, then {first!r}, then {second!r}")
    return f"id first, then the packet's echo ({ms(time.monotonic() - started)})"


# ------------------------------------------------------------------ the table of cases

RAW, MP, TLS = "raw", "mp", "tls"

# name, function, where it runs ({RAW, MP}: modes; TLS: wss only), stated bound, peak RSS
# growth bound in MiB, echo gap bound in ms.
CASES = [
    ("garbage instead of HTTP (4 KiB)", case_garbage_http, {RAW, MP}, "HTTP 400 within 5 s", 8, 1000),
    ("1 MiB request line", case_huge_request_line, {RAW, MP}, "HTTP 431 within 5 s", 8, 1000),
    ("20,000 headers", case_many_headers, {RAW, MP}, "HTTP 431 within 5 s", 8, 1000),
    ("GET without Upgrade", case_plain_get, {RAW, MP}, "HTTP 426 within 5 s", 8, 1000),
    ("unmasked client frame", case_unmasked, {RAW, MP}, "close 1002 within 5 s", 8, 1000),
    ("invalid UTF-8 in a text message", case_bad_utf8, {RAW, MP}, "close 1007 within 5 s", 8, 1000),
    ("frame header declaring 2^40 bytes", case_huge_header, {RAW, MP}, "close 1009 or dropped within 5 s", 8, 1000),
    ("64 MiB message (64 KiB fragments)", case_64mib_message, {RAW, MP}, "close 1009 within 20 s", 16, 1000),
    ("one frame 1 byte over the max message (1 MiB)", case_oversize_frame, {RAW, MP}, "close 1009 within 5 s", 16, 1000),
    ("reserved data opcode 0x3", case_reserved_opcode, {RAW, MP}, "close 1002 within 5 s", 8, 1000),
    ("reserved control opcode 0xB", case_reserved_control_opcode, {RAW, MP}, "close 1002 within 5 s", 8, 1000),
    ("RSV1 bit without an extension", case_rsv_bits, {RAW, MP}, "close 1002 within 5 s", 8, 1000),
    ("fragmented ping", case_fragmented_ping, {RAW, MP}, "close 1002 within 5 s", 8, 1000),
    ("ping with a 126-byte payload", case_long_ping, {RAW, MP}, "close 1002 within 5 s", 8, 1000),
    ("close code 999", close_case(999), {RAW, MP}, "close 1002 within 5 s", 8, 1000),
    ("close code 1005", close_case(1005), {RAW, MP}, "close 1002 within 5 s", 8, 1000),
    ("close code 1006", close_case(1006), {RAW, MP}, "close 1002 within 5 s", 8, 1000),
    ("close code 5000", close_case(5000), {RAW, MP}, "close 1002 within 5 s", 8, 1000),
    ("close frame with a 1-byte payload", case_close_one_byte, {RAW, MP}, "close 1002 within 5 s", 8, 1000),
    ("ping flood (200,000 pings, pongs not read)", case_ping_flood, {RAW, MP}, "writes stall, then every pong and the echo, 10 s per frame", 16, 2000),
    ("client that never reads, server sending", case_never_reads, {RAW, MP}, "sends refused, <= 2 MiB queued", 16, 1000),
    ("client sending 8 MiB of 1 KiB messages, never reading the echoes", case_sends_never_reads, {RAW, MP}, "echoes refused, <= 2 MiB queued", 16, 2000),
    ("1,000 silent TCP connections", case_silent_connections, {RAW, MP}, "all dropped at handshake_timeout (+5 s)", 32, 2000),
    ("slowloris (1 byte/s, 5 connections)", case_slowloris, {RAW, MP}, "dropped at handshake_timeout (+5 s)", 8, 1000),
    ("2,000 connect-and-RST (SO_LINGER 0)", case_connect_rst, {RAW, MP}, "server unaffected", 32, 2000),
    ("N clients connecting at once", case_many_clients, {RAW, MP}, "all get 101", 96, 3000),
    ("max_connections and max_connections_per_ip held", case_limits, {RAW, MP}, "next one 503 (ws) / closed before TLS (wss)", 16, 1000),
    ("TLS: 4 KiB of garbage instead of a ClientHello", case_tls_garbage, {TLS}, "dropped within 5 s", 8, 1000),
    ("TLS: half a ClientHello, then silence", case_truncated_client_hello, {TLS}, "dropped at handshake_timeout (+5 s)", 8, 1000),
    ("TLS: valid handshake, then garbage", case_tls_then_garbage, {TLS}, "HTTP 400 within 5 s", 8, 1000),
    ("multiplayer: packet sent with the request, before the 101", case_packet_before_101, {"mp-only"}, "id first, then the echo, within 5 s", 8, 1000),
    ("multiplayer: packet sent before the id is read", case_packet_before_id, {"mp-only"}, "id first, then the echo, within 5 s", 8, 1000),
]


def applies(where, server):
    if "mp-only" in where:
        return server.mode == "mp"
    if TLS in where:
        return server.tls
    return server.mode in where


async def settle_fds(process, baseline, timeout=FD_SETTLE_S):
    deadline = time.monotonic() + timeout
    fds = process.fds()
    while fds != baseline and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        fds = process.fds()
    return fds


async def run_case(server, name, function, bound, rss_bound, gap_bound):
    process = server.process
    name = name.replace("N clients", f"{server.clients:,} clients")
    label = f"{name} [{server.name}]"
    row = {"case": name, "mode": server.name, "bound": bound, "rss_bound_mib": rss_bound,
           "gap_bound_ms": gap_bound}
    why = []
    echo = EchoClient(server)
    try:
        await echo.start()
        await server.stats()  # the control connection exists before the baseline
    except Exception as e:  # noqa: BLE001
        report(label, f"the echo client could not start: {type(e).__name__}: {e}")
        row.update(outcome="echo client could not start", passed=False)
        return row
    await asyncio.sleep(0.3)
    fds_before = process.fds()
    rss_before = process.rss()
    hwm_reset = process.reset_hwm()
    sampler = RssSampler(process)
    started = time.monotonic()
    try:
        outcome = await asyncio.wait_for(function(server), 120)
    except CaseFailed as e:
        outcome = f"WRONG: {e}"
        why.append(str(e))
    except Exception as e:  # noqa: BLE001
        outcome = f"ERROR: {type(e).__name__}: {e}"
        why.append(outcome)
    fds_after = await settle_fds(process, fds_before) if process.alive() else -1
    gap_ms, echo_error = await echo.finish(started)
    await sampler.stop()
    if not process.alive():
        why.append("the server process died")
        rss_peak = rss_after = 0
    else:
        rss_after = process.rss()
        rss_peak = max(sampler.peak, process.hwm() if hwm_reset else 0)
    growth = (rss_peak - rss_before) / MIB
    if echo_error:
        why.append(f"echo client: {echo_error}")
    if gap_ms > gap_bound:
        why.append(f"echo gap {gap_ms:.0f} ms over {gap_bound} ms")
    if growth >= rss_bound:
        why.append(f"peak RSS grew {growth:.1f} MiB, bound {rss_bound} MiB")
    if fds_after != fds_before:
        why.append(f"{fds_after} fds {FD_SETTLE_S:.0f} s after the case, {fds_before} before")
    row.update(outcome=outcome, echo_gap_max_ms=round(gap_ms), rss_before_mib=round(rss_before / MIB, 1),
               rss_peak_mib=round(rss_peak / MIB, 1), rss_after_mib=round(rss_after / MIB, 1),
               rss_growth_mib=round(growth, 1), fds_before=fds_before, fds_after=fds_after,
               seconds=round(time.monotonic() - started, 1), passed=not why)
    print(f"   {name} | {server.name} | {outcome} | {bound}; RSS +{rss_bound} MiB; gap {gap_bound} ms | "
          f"{gap_ms:.0f} | {rss_before / MIB:.1f}/{rss_peak / MIB:.1f}/{rss_after / MIB:.1f} | "
          f"{fds_before}/{fds_after}", flush=True)
    report(label, "; ".join(why) if why else None)
    return row


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", action="append", required=True, help="NAME=URL,PID,MODE")
    parser.add_argument("--handshake-timeout", type=float, required=True)
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--json")
    args = parser.parse_args()
    servers = []
    for spec in args.server:
        name, rest = spec.split("=", 1)
        url, pid, mode = rest.split(",")
        servers.append(Server(name, url, int(pid), mode, args.handshake_timeout, args.clients))
    rows = []
    for server in servers:
        for name, function, where, bound, rss_bound, gap_bound in CASES:
            if applies(where, server) and args.only.lower() in name.lower():
                rows.append(await run_case(server, name, function, bound, rss_bound, gap_bound))
        if server.control is not None:
            await server.control.close()
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"handshake_timeout_s": args.handshake_timeout, "clients": args.clients,
                       "cases": rows}, f, indent=1)
    passed = sum(1 for r in rows if r["passed"])
    print("\ncase | mode | outcome observed | bound | echo gaps max ms | RSS before/peak/after MiB | fds before/after")
    for r in rows:
        print(f"{r['case']} | {r['mode']} | {r['outcome']} | {r['bound']}; RSS +{r['rss_bound_mib']} MiB; "
              f"echo gap {r['gap_bound_ms']} ms | {r.get('echo_gap_max_ms', '-')} | "
              f"{r.get('rss_before_mib', '-')}/{r.get('rss_peak_mib', '-')}/{r.get('rss_after_mib', '-')} | "
              f"{r.get('fds_before', '-')}/{r.get('fds_after', '-')}{'' if r['passed'] else ' | FAILED'}")
    print(f"hostile cases: {passed} passed, {len(rows) - passed} failed", flush=True)
    return exit_code()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
