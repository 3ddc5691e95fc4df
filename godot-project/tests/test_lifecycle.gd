extends "res://tests/lib/test_base.gd"
## Server lifecycle and configuration: listen() twice, a busy port, set_buffers(), bind_ip
## (IPv4, IPv6, dual stack, bad values), handshake_timeout against silent and stalled raw TCP
## clients, extra headers in the 101 reply, the MultiplayerPeer status methods (of
## WebSocketMultiplayerServer; WebSocketServer is no MultiplayerPeer), and a garbage request.

const RAW_REQUEST := "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
const HALF_REQUEST := "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"

## Every client_connected of every tracked server: [server instance id, peer id, protocol].
var connected: Array = []
var has_ipv6 := false


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketServer"), "class WebSocketServer is registered (extension loaded)"):
		return
	has_ipv6 = probe_ipv6_loopback()
	if not has_ipv6:
		print("NOTE: this machine has no IPv6 loopback (::1): the IPv6 parts of (d) are skipped")
	await test_listen_twice()
	await test_busy_port()
	test_set_buffers()
	await test_bind_ip()
	await test_handshake_timeout()
	await test_extra_headers()
	await test_multiplayer_status()
	await test_garbage_request()


# --- helpers -------------------------------------------------------------------------------

func section(name: String) -> void:
	print("--- ", name)


func probe_ipv6_loopback() -> bool:
	var probe := TCPServer.new()
	var ok := probe.listen(0, "::1") == OK
	probe.stop()
	return ok


## Registers the client_connected tracking on `server` (and keeps it polled).
func track(server: WebSocketServer) -> WebSocketServer:
	var sid := server.get_instance_id()
	server.client_connected.connect(func(id, protocol): connected.append([sid, id, protocol]))
	keep_polled(server)
	return server


func tracked_server(bind_ip := "127.0.0.1") -> WebSocketServer:
	return track(start_server(PackedStringArray(), bind_ip))


func connected_ids(server: WebSocketServer) -> Array:
	var sid := server.get_instance_id()
	return connected.filter(func(c): return c[0] == sid).map(func(c): return c[1])


## Connects a Godot WebSocketPeer to `url` and waits for the server's client_connected.
## Returns [client, id]; id is -1 when the client did not get OPEN or the signal did not come.
func connect_identified(server: WebSocketServer, url: String, what: String) -> Array:
	var before := connected_ids(server).size()
	var client := await connect_client(url)
	if not check_eq(client.get_ready_state(), WebSocketPeer.STATE_OPEN, what + ": client state after connecting to " + url):
		return [client, -1]
	if not await wait_until(func(): return connected_ids(server).size() > before, what + ": client_connected"):
		return [client, -1]
	return [client, connected_ids(server)[-1]]


## Checks that `client` can still talk to `server`: a message reaches the server's peer object.
func check_exchange(server: WebSocketServer, client: WebSocketPeer, id: int, what: String) -> void:
	var peer: WebSocketServerPeer = server.get_peer(id)
	if not check(peer != null, what + ": get_peer(id)"):
		return
	var before := peer.get_available_packet_count()
	client.send_text("ping from " + what)
	if await wait_until(func(): return peer.get_available_packet_count() > before, what + ": a message reaches the server"):
		while peer.get_available_packet_count() > 1:
			peer.get_packet()
		check_eq(peer.get_packet().get_string_from_utf8(), "ping from " + what, what + ": message text")
	check_eq(peer.put_packet(("pong " + what).to_utf8_buffer()), OK, what + ": put_packet() reply")
	if await wait_until(func(): return client.get_available_packet_count() > 0, what + ": the reply reaches the client"):
		check_eq(client.get_packet().get_string_from_utf8(), "pong " + what, what + ": reply text")


## Opens a raw TCP connection to host:port; returns it once connected, or null.
func raw_connect(port: int, host := "127.0.0.1") -> StreamPeerTCP:
	var tcp := StreamPeerTCP.new()
	if not check_eq(tcp.connect_to_host(host, port), OK, "raw TCP connect_to_host(%s, %d)" % [host, port]):
		return null
	await wait_until(func():
		tcp.poll()
		return tcp.get_status() != StreamPeerTCP.STATUS_CONNECTING, "raw TCP client to connect")
	if not check_eq(tcp.get_status(), StreamPeerTCP.STATUS_CONNECTED, "raw TCP client status after connecting"):
		return null
	return tcp


## Polls `tcp` once, discarding what arrives; true when the connection has ended.
func raw_is_closed(tcp: StreamPeerTCP) -> bool:
	tcp.poll()
	if tcp.get_status() != StreamPeerTCP.STATUS_CONNECTED:
		return true
	var available := tcp.get_available_bytes()
	if available > 0:
		var result: Array = tcp.get_partial_data(available)
		if result[0] != OK:
			return true
	return tcp.get_status() != StreamPeerTCP.STATUS_CONNECTED


## Reads from `tcp` until `needle` appears, the connection ends or `timeout_s` passes.
func raw_read_until(tcp: StreamPeerTCP, needle: String, timeout_s := 5.0) -> String:
	var text := ""
	var deadline := Time.get_ticks_msec() + int(timeout_s * 1000.0)
	while Time.get_ticks_msec() < deadline:
		tcp.poll()
		var available := tcp.get_available_bytes()
		if available > 0:
			var result: Array = tcp.get_partial_data(available)
			if result[0] != OK:
				break
			text += (result[1] as PackedByteArray).get_string_from_ascii()
			if text.contains(needle):
				break
		elif tcp.get_status() != StreamPeerTCP.STATUS_CONNECTED:
			break
		await process_frame
	return text


## Sends the hand-written upgrade request and returns the server's reply head.
func raw_upgrade_reply(port: int) -> String:
	var tcp := await raw_connect(port)
	if tcp == null:
		return ""
	check_eq(tcp.put_data(RAW_REQUEST.to_ascii_buffer()), OK, "send a hand-written upgrade request")
	var reply := await raw_read_until(tcp, "\r\n\r\n")
	tcp.disconnect_from_host()
	return reply


# --- tests ---------------------------------------------------------------------------------

## (a) listen() while listening -> ERR_ALREADY_IN_USE, and the server keeps working.
func test_listen_twice() -> void:
	section("(a) listen() twice")
	var server := tracked_server()
	var port := server.get_local_port()
	check_eq(server.listen(port), ERR_ALREADY_IN_USE, "(a) listen(same port) while listening (push_error expected)")
	check_eq(server.listen(0), ERR_ALREADY_IN_USE, "(a) listen(0) while listening (push_error expected)")
	check_eq(server.is_listening(), true, "(a) is_listening() after the refused listen()")
	check_eq(server.get_local_port(), port, "(a) get_local_port() unchanged after the refused listen()")
	var pair := await connect_identified(server, "ws://127.0.0.1:%d" % port, "(a)")
	if pair[1] >= 0:
		await check_exchange(server, pair[0], pair[1], "(a) after the second listen()")
	stop_polling(pair[0])


## (b) A second server on a port that is taken: an Error, no crash, not listening.
func test_busy_port() -> void:
	section("(b) second server on a busy port")
	var first := tracked_server()
	var port := first.get_local_port()
	var second := WebSocketServer.new()
	second.bind_ip = "127.0.0.1"
	var err := second.listen(port)
	check(err != OK, "(b) listen() on a busy port returns an Error (got %s)" % error_string(err))
	check_eq(second.is_listening(), false, "(b) is_listening() after listen() on a busy port failed")
	var mp_second := WebSocketMultiplayerServer.new()
	mp_second.bind_ip = "127.0.0.1"
	var mp_err := mp_second.listen(port)
	check(mp_err != OK, "(b) WebSocketMultiplayerServer.listen() on a busy port returns an Error (got %s)" % error_string(mp_err))
	check_eq(mp_second.get_connection_status(), MultiplayerPeer.CONNECTION_DISCONNECTED, "(b) status of the multiplayer server that failed to listen")
	second.poll()  # harmless on a server that is not listening
	var pair := await connect_identified(first, "ws://127.0.0.1:%d" % port, "(b)")
	if pair[1] >= 0:
		await check_exchange(first, pair[0], pair[1], "(b) first server")
	stop_polling(pair[0])
	for bad_port in [-1, 65536]:
		var ranged := WebSocketServer.new()
		var bad_err := ranged.listen(bad_port)
		check(bad_err != OK, "(b) listen(%d) returns an Error (got %s)" % [bad_port, error_string(bad_err)])
		check_eq(ranged.is_listening(), false, "(b) is_listening() after listen(%d)" % bad_port)
	var third := WebSocketServer.new()
	third.bind_ip = "127.0.0.1"
	check_eq(third.listen(0), OK, "(b) a different server can still listen elsewhere")
	third.stop()


## (c) set_buffers(): OK before listen, FAILED after, ERR_INVALID_PARAMETER for 0.
func test_set_buffers() -> void:
	section("(c) set_buffers()")
	var server := WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	check_eq(server.set_buffers(64, 1024, 64, 1024), OK, "(c) set_buffers() before listen()")
	check_eq(server.set_buffers(0, 1024, 64, 1024), ERR_INVALID_PARAMETER, "(c) set_buffers(0, ...) (push_error expected)")
	check_eq(server.set_buffers(64, 0, 64, 1024), ERR_INVALID_PARAMETER, "(c) set_buffers(64, 0, ...)")
	check_eq(server.set_buffers(64, 1024, 0, 1024), ERR_INVALID_PARAMETER, "(c) set_buffers(.., 0, 1024)")
	check_eq(server.set_buffers(64, 1024, 64, 0), ERR_INVALID_PARAMETER, "(c) set_buffers(..., 0)")
	check_eq(server.set_buffers(-1, 1024, 64, 1024), ERR_INVALID_PARAMETER, "(c) set_buffers(-1, ...)")
	check_eq(server.listen(0), OK, "(c) listen() after set_buffers()")
	check_eq(server.set_buffers(64, 1024, 64, 1024), FAILED, "(c) set_buffers() while listening (push_error expected)")
	server.stop()
	check_eq(server.set_buffers(64, 1024, 64, 1024), OK, "(c) set_buffers() after stop()")


## (d) bind_ip: bad values are refused; "::1", "*" and "127.0.0.1" do what they say; an address
## of another machine makes listen() fail.
func test_bind_ip() -> void:
	section("(d) bind_ip")
	var fresh := WebSocketServer.new()
	check_eq(fresh.bind_ip, "*", "(d) default bind_ip")
	fresh.bind_ip = "127.0.0.1"
	fresh.bind_ip = "not-an-ip"
	check_eq(fresh.bind_ip, "127.0.0.1", "(d) bind_ip = \"not-an-ip\" is refused, old value kept (push_error expected)")
	fresh.bind_ip = "256.1.1.1"
	check_eq(fresh.bind_ip, "127.0.0.1", "(d) bind_ip = \"256.1.1.1\" is refused")

	# An address that is not on this machine: listen() fails, no crash.
	var foreign := WebSocketServer.new()
	foreign.bind_ip = "192.0.2.1"
	check_eq(foreign.bind_ip, "192.0.2.1", "(d) bind_ip = \"192.0.2.1\" is a valid address")
	var err := foreign.listen(0)
	check(err != OK, "(d) listen() on 192.0.2.1 (not on this machine) returns an Error (got %s)" % error_string(err))
	check_eq(foreign.is_listening(), false, "(d) is_listening() after listen() on 192.0.2.1 failed")

	# "*": IPv4 clients are reported as IPv4, IPv6 clients as IPv6.
	var any := tracked_server("*")
	var any_port := any.get_local_port()
	var v4 := await connect_identified(any, "ws://127.0.0.1:%d" % any_port, "(d) bind * / IPv4 client")
	if v4[1] >= 0:
		check_eq(any.get_peer_address(v4[1]), "127.0.0.1", "(d) bind *: address of a client to 127.0.0.1 (not ::ffff:)")
		check_eq(any.get_peer(v4[1]).get_connected_host(), "127.0.0.1", "(d) bind *: peer.get_connected_host() of an IPv4 client")
		check(any.get_peer_port(v4[1]) > 0, "(d) bind *: get_peer_port() of an IPv4 client")
	stop_polling(v4[0])
	if has_ipv6:
		var v6 := await connect_identified(any, "ws://[::1]:%d" % any_port, "(d) bind * / IPv6 client")
		if v6[1] >= 0:
			check_eq(any.get_peer_address(v6[1]), "::1", "(d) bind *: address of a client to [::1]")
		stop_polling(v6[0])

	if has_ipv6:
		# "::1": IPv6 loopback only.
		var only6 := WebSocketServer.new()
		only6.bind_ip = "::1"
		check_eq(only6.bind_ip, "::1", "(d) bind_ip = \"::1\" accepted")
		if check_eq(only6.listen(0), OK, "(d) listen() on ::1"):
			track(only6)
			var pair := await connect_identified(only6, "ws://[::1]:%d" % only6.get_local_port(), "(d) bind ::1")
			if pair[1] >= 0:
				check_eq(only6.get_peer_address(pair[1]), "::1", "(d) bind ::1: get_peer_address()")
				await check_exchange(only6, pair[0], pair[1], "(d) bind ::1")
			stop_polling(pair[0])

		# "127.0.0.1": connections to [::1] are refused.
		var only4 := tracked_server("127.0.0.1")
		var count_before := connected_ids(only4).size()
		var refused := await connect_client("ws://[::1]:%d" % only4.get_local_port())
		check_eq(refused.get_ready_state(), WebSocketPeer.STATE_CLOSED, "(d) bind 127.0.0.1: a client to [::1] does not connect")
		await wait_seconds(0.2)
		check_eq(connected_ids(only4).size(), count_before, "(d) bind 127.0.0.1: no client_connected for the [::1] client")
		stop_polling(refused)
		var ok4 := await connect_identified(only4, "ws://127.0.0.1:%d" % only4.get_local_port(), "(d) bind 127.0.0.1 / IPv4 client")
		if ok4[1] >= 0:
			check_eq(only4.get_peer_address(ok4[1]), "127.0.0.1", "(d) bind 127.0.0.1: get_peer_address()")
		stop_polling(ok4[0])
	else:
		print("NOTE: skipped bind_ip \"::1\", \"*\" with an IPv6 client, and \"127.0.0.1\" refusing [::1] (no IPv6 loopback)")


## (e) handshake_timeout: silent and stalled raw TCP clients are dropped in time, without
## client_connected; a real client connecting at the same time is served.
func test_handshake_timeout() -> void:
	section("(e) handshake_timeout")
	var server := WebSocketServer.new()
	check_eq(server.handshake_timeout, 3.0, "(e) default handshake_timeout")
	server.bind_ip = "127.0.0.1"
	server.handshake_timeout = 0.5
	check_eq(server.handshake_timeout, 0.5, "(e) handshake_timeout = 0.5")
	server.handshake_timeout = -1
	check_eq(server.handshake_timeout, 0.5, "(e) handshake_timeout = -1 is refused, value unchanged (push_error expected)")
	server.handshake_timeout = 0
	check_eq(server.handshake_timeout, 0.5, "(e) handshake_timeout = 0 is refused, value unchanged")
	if not check_eq(server.listen(0), OK, "(e) listen() with handshake_timeout 0.5"):
		return
	track(server)
	var port := server.get_local_port()

	# Each raw client's clock starts when its TCP connection is up (the server's timer starts at accept).
	var connected_at := {}
	var silent := await raw_connect(port)
	connected_at["silent"] = Time.get_ticks_msec()
	var stalled := await raw_connect(port)
	connected_at["stalled"] = Time.get_ticks_msec()
	if silent == null or stalled == null:
		return
	check_eq(stalled.put_data(HALF_REQUEST.to_ascii_buffer()), OK, "(e) send half a request head")
	var pair := await connect_identified(server, "ws://127.0.0.1:%d" % port, "(e) real client during the stalls")
	var closed_at := {}
	var both_closed := func():
		if not closed_at.has("silent") and raw_is_closed(silent):
			closed_at["silent"] = Time.get_ticks_msec() - connected_at["silent"]
		if not closed_at.has("stalled") and raw_is_closed(stalled):
			closed_at["stalled"] = Time.get_ticks_msec() - connected_at["stalled"]
		return closed_at.size() == 2
	await wait_until(both_closed, "(e) the server drops the silent and the stalled raw clients", 4.0)
	print("(e) dropped after: ", closed_at, " ms (handshake_timeout 0.5 s)")
	for which in ["silent", "stalled"]:
		var ms: int = closed_at.get(which, -1)
		check(ms >= 0 and ms <= 2000, "(e) %s raw client dropped within 2 s of connecting (took %d ms)" % [which, ms])
		check(ms < 0 or ms >= 250, "(e) %s raw client not dropped before the timeout (took %d ms)" % [which, ms])
	await wait_seconds(0.2)
	var ids := connected_ids(server)
	check_eq(ids.size(), 1, "(e) client_connected fired only for the real client (ids %s)" % str(ids))
	if pair[1] >= 0:
		await wait_seconds(0.5)  # well past the handshake timeout: an upgraded client is not subject to it
		check_eq(pair[0].get_ready_state(), WebSocketPeer.STATE_OPEN, "(e) the real client stays OPEN past the handshake timeout")
		await check_exchange(server, pair[0], pair[1], "(e) real client")
	stop_polling(pair[0])


## (f) set_extra_headers(): the headers appear in the 101 reply; malformed ones are refused.
func test_extra_headers() -> void:
	section("(f) set_extra_headers()")
	var server := WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	server.set_extra_headers(PackedStringArray(["X-Game: demo", "X-Ver: 3"]))
	if not check_eq(server.listen(0), OK, "(f) listen() with extra headers"):
		return
	track(server)
	var reply := await raw_upgrade_reply(server.get_local_port())
	check(reply.begins_with("HTTP/1.1 101"), "(f) 101 reply, got: %s" % reply.c_escape())
	check(reply.contains("\r\nX-Game: demo\r\n"), "(f) the 101 reply contains \"X-Game: demo\", got: %s" % reply.c_escape())
	check(reply.contains("\r\nX-Ver: 3\r\n"), "(f) the 101 reply contains \"X-Ver: 3\", got: %s" % reply.c_escape())
	# Godot's own (strict) client accepts the reply with extra headers.
	var pair := await connect_identified(server, "ws://127.0.0.1:%d" % server.get_local_port(), "(f) client with extra headers")
	stop_polling(pair[0])

	var refusing := WebSocketServer.new()
	refusing.bind_ip = "127.0.0.1"
	refusing.set_extra_headers(PackedStringArray(["X-Game: demo"]))
	refusing.set_extra_headers(PackedStringArray(["Bad Header Line"]))  # push_error expected
	refusing.set_extra_headers(PackedStringArray(["X-Ok: 1", "X-Evil: a\r\nX-Injected: b"]))  # push_error expected
	refusing.set_extra_headers(PackedStringArray(["Bad Name: 1"]))  # push_error expected
	refusing.set_extra_headers(PackedStringArray(["Connection: close"]))  # push_error expected: the upgrade's own
	refusing.set_extra_headers(PackedStringArray(["sec-websocket-accept: x"]))  # push_error expected
	if not check_eq(refusing.listen(0), OK, "(f) listen() after refused extra headers"):
		return
	track(refusing)
	var reply2 := await raw_upgrade_reply(refusing.get_local_port())
	check(reply2.begins_with("HTTP/1.1 101"), "(f) 101 reply after refused headers, got: %s" % reply2.c_escape())
	check(not reply2.contains("Bad Header Line"), "(f) \"Bad Header Line\" is refused (not in the reply): %s" % reply2.c_escape())
	check(not reply2.contains("X-Injected"), "(f) a header value with CRLF is refused (no injected header): %s" % reply2.c_escape())
	check(not reply2.contains("X-Ok"), "(f) a refused list is refused as a whole: %s" % reply2.c_escape())
	check(reply2.contains("\r\nX-Game: demo\r\n"), "(f) refused set_extra_headers() calls keep the previous headers: %s" % reply2.c_escape())
	check(not reply2.contains("Connection: close"), "(f) a header the upgrade sets itself is refused: %s" % reply2.c_escape())
	check_eq(reply2.count("Sec-WebSocket-Accept"), 1, "(f) one Sec-WebSocket-Accept only")
	var pair2 := await connect_identified(refusing, "ws://127.0.0.1:%d" % refusing.get_local_port(), "(f) client after refused headers")
	stop_polling(pair2[0])


## (g) The MultiplayerPeer view: WebSocketServer is a RefCounted with Godot 3's API only;
## WebSocketMultiplayerServer reports its status to the engine, and its peers' messages go to its
## MultiplayerPeer packet queue, not to the peer objects.
func test_multiplayer_status() -> void:
	section("(g) MultiplayerPeer status methods")
	var raw: Object = WebSocketServer.new()  # typed WebSocketServer, "is MultiplayerPeer" would not even parse
	check(raw is RefCounted and not (raw is MultiplayerPeer), "(g) WebSocketServer is a RefCounted, not a MultiplayerPeer")
	for method in ["get_connection_status", "get_unique_id", "get_available_packet_count", "put_packet"]:
		check(not raw.has_method(method), "(g) WebSocketServer has no MultiplayerPeer/PacketPeer method %s()" % method)
	var server := WebSocketMultiplayerServer.new()
	check(server is MultiplayerPeer, "(g) WebSocketMultiplayerServer is a MultiplayerPeer")
	server.bind_ip = "127.0.0.1"
	check_eq(server.get_connection_status(), MultiplayerPeer.CONNECTION_DISCONNECTED, "(g) status before listen()")
	check_eq(server.listen(0), OK, "(g) listen()")
	keep_polled(server)
	check_eq(server.get_connection_status(), MultiplayerPeer.CONNECTION_CONNECTED, "(g) status while listening")
	check_eq(server.get_unique_id(), 1, "(g) get_unique_id()")
	# MultiplayerPeer has no script-callable is_server() in Godot 4 (only the _is_server virtual,
	# which the engine reads): check it through a MultiplayerAPI that uses this peer.
	if server.has_method("is_server"):
		check_eq(server.call("is_server"), true, "(g) is_server()")
	var api := get_multiplayer()
	api.multiplayer_peer = server
	check_eq(api.is_server(), true, "(g) multiplayer.is_server() with the server as multiplayer_peer")
	check_eq(api.get_unique_id(), 1, "(g) multiplayer.get_unique_id() with the server as multiplayer_peer")
	api.multiplayer_peer = null
	check_eq(server.is_listening(), true, "(g) still listening after being detached from the MultiplayerAPI")
	var client := await connect_client("ws://127.0.0.1:%d" % server.get_local_port())
	if await wait_until(func(): return server.get_peer_ids().size() == 1, "(g) the client appears in get_peer_ids()"):
		var peer: WebSocketServerPeer = server.get_peer(server.get_peer_ids()[0])
		await wait_until(func(): return client.get_available_packet_count() > 0, "(g) the 4-byte id message reaches the client")
		client.send_text("unread")
		await wait_until(func(): return server.get_available_packet_count() > 0, "(g) the message reaches the server's packet queue")
		check_eq(peer.get_available_packet_count(), 0, "(g) the peer object's get_available_packet_count() (messages go to the MultiplayerPeer queue)")
	stop_polling(client)
	server.stop()
	check_eq(server.get_connection_status(), MultiplayerPeer.CONNECTION_DISCONNECTED, "(g) status after stop()")
	check_eq(server.is_listening(), false, "(g) is_listening() after stop()")


## (h) Garbage instead of an upgrade request: an HTTP 4xx reply, the connection closed, and the
## server keeps serving real clients.
func test_garbage_request() -> void:
	section("(h) garbage request")
	var server := tracked_server()
	var port := server.get_local_port()
	var tcp := await raw_connect(port)
	if tcp == null:
		return
	check_eq(tcp.put_data("hello\r\n\r\n".to_ascii_buffer()), OK, "(h) send garbage")
	var reply := await raw_read_until(tcp, "\r\n\r\n")
	check(reply.begins_with("HTTP/1.1 4"), "(h) an HTTP 4xx reply to garbage, got: %s" % reply.c_escape())
	await wait_until(func(): return raw_is_closed(tcp), "(h) the server closes the garbage connection", 3.0)
	var pair := await connect_identified(server, "ws://127.0.0.1:%d" % port, "(h) real client after garbage")
	if pair[1] >= 0:
		await check_exchange(server, pair[0], pair[1], "(h) real client after garbage")
	check_eq(connected_ids(server).size(), 1, "(h) client_connected only for the real client")
	stop_polling(pair[0])
