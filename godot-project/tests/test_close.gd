extends "res://tests/lib/test_base.gd"
## How connections end: client-started close, server-started close (disconnect_peer and the peer
## object's close), what is still readable during client_disconnected, abrupt client death (a raw
## TCP client, a killed second Godot process), and stop() with clients connected.

const RAW_REQUEST := "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

## Every signal of every tracked server, in order: ["connected", id, protocol],
## ["data", id], ["close_request", id, code, reason], ["disconnected", id, clean].
var events: Array = []
## What the client_disconnected handler of part (c) saw.
var in_handler := {}
## The second Godot process of part (e), killed from the client_connected handler.
var kill_pid := 0
var kill_result := -1


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketServer"), "class WebSocketServer is registered (extension loaded)"):
		return
	await test_client_started_close()
	await test_server_started_close()
	await test_peer_object_close()
	await test_unanswered_server_close()
	await test_server_close_long_reason()
	await test_state_during_disconnected_handler()
	await test_raw_tcp_client_drops()
	await test_killed_client_process()
	await test_stop_with_clients()


# --- helpers -------------------------------------------------------------------------------

func section(name: String) -> void:
	print("--- ", name)


func tracked_server() -> WebSocketServer:
	var server := start_server()
	server.client_connected.connect(func(id, protocol): events.append(["connected", id, protocol]))
	server.data_received.connect(func(id): events.append(["data", id]))
	server.client_close_request.connect(func(id, code, reason): events.append(["close_request", id, code, reason]))
	server.client_disconnected.connect(func(id, clean): events.append(["disconnected", id, clean]))
	return server


func events_for(id: int) -> Array:
	return events.filter(func(e): return e[1] == id)


func count_events(kind: String, id := -1) -> int:
	return events.filter(func(e): return e[0] == kind and (id == -1 or e[1] == id)).size()


## The id of the newest client_connected, once there are more than `before` of them; -1 on timeout.
func wait_new_peer(before: int, what: String, timeout_s := 5.0) -> int:
	if not await wait_until(func(): return count_events("connected") > before, "client_connected for " + what, timeout_s):
		return -1
	var connected := events.filter(func(e): return e[0] == "connected")
	return connected[-1][1]


## A Godot WebSocketPeer connected to `server`, and the id the server gave it: [client, id].
func connect_identified(server: WebSocketServer, what: String) -> Array:
	var before := count_events("connected")
	var client := await connect_client("ws://127.0.0.1:%d" % server.get_local_port())
	if not check_eq(client.get_ready_state(), WebSocketPeer.STATE_OPEN, what + ": client state after connecting"):
		return [client, -1]
	var id := await wait_new_peer(before, what)
	return [client, id]


func wait_disconnected(id: int, what: String, timeout_s := 5.0) -> bool:
	return await wait_until(func(): return count_events("disconnected", id) > 0, "client_disconnected for " + what, timeout_s)


func wait_client_closed(client: WebSocketPeer, what: String, timeout_s := 5.0) -> bool:
	return await wait_until(func(): return client.get_ready_state() == WebSocketPeer.STATE_CLOSED, what + ": client reaches STATE_CLOSED", timeout_s)


## Opens a raw TCP connection; returns it once connected (or null).
func raw_connect(port: int) -> StreamPeerTCP:
	var tcp := StreamPeerTCP.new()
	if not check_eq(tcp.connect_to_host("127.0.0.1", port), OK, "raw TCP connect_to_host"):
		return null
	await wait_until(func():
		tcp.poll()
		return tcp.get_status() != StreamPeerTCP.STATUS_CONNECTING, "raw TCP client to connect")
	if not check_eq(tcp.get_status(), StreamPeerTCP.STATUS_CONNECTED, "raw TCP client status"):
		return null
	return tcp


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


# --- tests ---------------------------------------------------------------------------------

## (a) client.close(4000, "bye") -> client_close_request(id, 4000, "bye"), then
## client_disconnected(id, true), once each; the client ends CLOSED with code 4000.
func test_client_started_close() -> void:
	section("(a) close started by the client")
	var server := tracked_server()
	var pair := await connect_identified(server, "(a)")
	var client: WebSocketPeer = pair[0]
	var id: int = pair[1]
	if id < 0:
		return
	client.close(4000, "bye")
	await wait_disconnected(id, "(a) client-started close")
	await wait_client_closed(client, "(a)")
	await wait_seconds(0.3)  # anything duplicated would show up by now
	check_eq(events_for(id), [["connected", id, ""], ["close_request", id, 4000, "bye"], ["disconnected", id, true]],
		"(a) signals for a client-started close (close_request then disconnected(clean), once each)")
	check_eq(client.get_ready_state(), WebSocketPeer.STATE_CLOSED, "(a) client ready state")
	check_eq(client.get_close_code(), 4000, "(a) client's close code (the server echoes 4000)")
	check(not server.has_peer(id), "(a) has_peer(id) is false after client_disconnected")
	stop_polling(client)


## (b) server.disconnect_peer(id, 4001, "kicked") -> the client sees 4001/"kicked"; the server
## emits client_disconnected(id, true) and no client_close_request.
func test_server_started_close() -> void:
	section("(b) close started by the server: disconnect_peer()")
	var server := tracked_server()
	var pair := await connect_identified(server, "(b)")
	var client: WebSocketPeer = pair[0]
	var id: int = pair[1]
	if id < 0:
		return
	server.disconnect_peer(id, 4001, "kicked")
	await wait_client_closed(client, "(b) disconnect_peer")
	await wait_disconnected(id, "(b) disconnect_peer")
	await wait_seconds(0.3)
	check_eq(client.get_close_code(), 4001, "(b) client's close code after disconnect_peer(id, 4001, \"kicked\")")
	check_eq(client.get_close_reason(), "kicked", "(b) client's close reason after disconnect_peer")
	check_eq(events_for(id), [["connected", id, ""], ["disconnected", id, true]],
		"(b) signals for a server-started close (clean disconnect, no client_close_request for the echo)")
	stop_polling(client)


## (b) again through the peer object: server.get_peer(id).close(4002, "bye2").
func test_peer_object_close() -> void:
	section("(b) close started by the server: get_peer(id).close()")
	var server := tracked_server()
	var pair := await connect_identified(server, "(b2)")
	var client: WebSocketPeer = pair[0]
	var id: int = pair[1]
	if id < 0:
		return
	var peer: WebSocketServerPeer = server.get_peer(id)
	if not check(peer != null, "(b2) get_peer(id) returns the peer object"):
		return
	peer.close(4002, "bye2")
	await wait_client_closed(client, "(b2) peer.close")
	await wait_disconnected(id, "(b2) peer.close")
	await wait_seconds(0.3)
	check_eq(client.get_close_code(), 4002, "(b2) client's close code after get_peer(id).close(4002, \"bye2\")")
	check_eq(client.get_close_reason(), "bye2", "(b2) client's close reason after get_peer(id).close")
	check_eq(events_for(id), [["connected", id, ""], ["disconnected", id, true]],
		"(b2) signals for a close started with the peer object")
	stop_polling(client)


## (b3) A server-started close the client never answers: client_disconnected(id, false) once the
## close times out (the binding documents 3 s), and no client_close_request.
func test_unanswered_server_close() -> void:
	section("(b3) server-started close that the client never answers")
	var server := tracked_server()
	var before := count_events("connected")
	var tcp := await raw_connect(server.get_local_port())
	if tcp == null:
		return
	check_eq(tcp.put_data(RAW_REQUEST.to_ascii_buffer()), OK, "(b3) send the upgrade request")
	var reply := await raw_read_until(tcp, "\r\n\r\n")
	if not check(reply.begins_with("HTTP/1.1 101"), "(b3) 101 reply, got: %s" % reply.c_escape()):
		return
	var id := await wait_new_peer(before, "(b3) raw client")
	if id < 0:
		return
	var started := Time.get_ticks_msec()
	server.disconnect_peer(id, 4003, "no answer")
	# The raw client reads the server's close frame and does not answer it.
	var frame := PackedByteArray()
	var deadline := Time.get_ticks_msec() + 3000
	while frame.size() < 4 + 9 and Time.get_ticks_msec() < deadline:
		tcp.poll()
		var available := tcp.get_available_bytes()
		if available > 0:
			var result: Array = tcp.get_partial_data(available)
			if result[0] == OK:
				frame.append_array(result[1])
		await process_frame
	var expected := PackedByteArray([0x88, 11, 4003 >> 8, 4003 & 0xff]) + "no answer".to_ascii_buffer()
	check_eq(frame, expected, "(b3) the raw client receives the close frame 4003 \"no answer\"")
	await wait_disconnected(id, "(b3) unanswered close", 6.0)
	var seconds := (Time.get_ticks_msec() - started) / 1000.0
	print("(b3) client_disconnected %.2f s after disconnect_peer()" % seconds)
	check(seconds >= 1.0 and seconds <= 5.0, "(b3) the unanswered close ends after the close timeout (~3 s), took %.2f s" % seconds)
	await wait_seconds(0.2)
	check_eq(events_for(id), [["connected", id, ""], ["disconnected", id, false]],
		"(b3) signals for an unanswered server close (unclean disconnect, no close request)")
	tcp.disconnect_from_host()


## (b4) A server-started close with a reason longer than a close frame can carry (RFC 6455 §5.5:
## control frame payload <= 125 bytes, so reason <= 123 bytes): the close must still be a valid
## frame, so the client sees the code and a clean close; the reason may be cut (at a UTF-8
## character boundary) or dropped, but what arrives must be a prefix of what was given.
func test_server_close_long_reason() -> void:
	section("(b4) server-started close with an over-long reason")
	var server := tracked_server()
	var cases := [["server.disconnect_peer(id, 4000, reason)", "x".repeat(200)], ["server.get_peer(id).close(4000, reason)", "é".repeat(100)]]
	for case in cases:
		var how: String = case[0]
		var reason: String = case[1]
		var pair := await connect_identified(server, "(b4) " + how)
		var client: WebSocketPeer = pair[0]
		var id: int = pair[1]
		if id < 0:
			return
		if how.begins_with("server.disconnect_peer"):
			server.disconnect_peer(id, 4000, reason)
		else:
			server.get_peer(id).close(4000, reason)
		await wait_client_closed(client, "(b4) %s with a %d-byte reason" % [how, reason.to_utf8_buffer().size()])
		await wait_disconnected(id, "(b4) " + how, 5.0)
		var got := client.get_close_reason()
		check_eq(client.get_close_code(), 4000,
			"(b4) %s with a %d-byte reason: client's close code (-1 = the client got no valid close frame: the server must cut the reason to <= 123 bytes)" % [how, reason.to_utf8_buffer().size()])
		check(reason.begins_with(got), "(b4) %s: the reason the client got (%d bytes) is a prefix of the one given" % [how, got.to_utf8_buffer().size()])
		check(got.to_utf8_buffer().size() <= 123, "(b4) %s: reason on the wire <= 123 bytes" % how)
		check_eq(events_for(id), [["connected", id, ""], ["disconnected", id, true]],
			"(b4) %s with an over-long reason: one clean client_disconnected" % how)
		stop_polling(client)


## (c) During client_disconnected the peer is still there and a packet that arrived before the
## close is readable; afterwards it is gone, and a kept peer object is inert.
func test_state_during_disconnected_handler() -> void:
	section("(c) state during and after client_disconnected")
	var server := tracked_server()
	var pair := await connect_identified(server, "(c)")
	var client: WebSocketPeer = pair[0]
	var id: int = pair[1]
	if id < 0:
		return
	var kept: WebSocketServerPeer = server.get_peer(id)
	if not check(kept != null, "(c) get_peer(id) before the close"):
		return
	check(kept.is_connected_to_host(), "(c) kept peer is_connected_to_host() while connected")
	var handler := func(did, _clean):
		if did != id:
			return
		in_handler["calls"] = in_handler.get("calls", 0) + 1
		in_handler["has_peer"] = server.has_peer(did)
		if not server.has_peer(did):
			return
		var peer: WebSocketServerPeer = server.get_peer(did)
		in_handler["same_object"] = peer == kept
		in_handler["count"] = peer.get_available_packet_count()
		if peer.get_available_packet_count() > 0:
			in_handler["packet"] = peer.get_packet().get_string_from_utf8()
			in_handler["was_string"] = peer.was_string_packet()
	server.client_disconnected.connect(handler)
	client.send_text("last words")
	client.close(1000, "done")
	await wait_disconnected(id, "(c) client close after a message")
	server.client_disconnected.disconnect(handler)
	check_eq(events_for(id), [["connected", id, ""], ["data", id], ["close_request", id, 1000, "done"], ["disconnected", id, true]],
		"(c) signals for a message followed by a client-started close, in order")
	check_eq(in_handler.get("calls", 0), 1, "(c) client_disconnected handler calls")
	check_eq(in_handler.get("has_peer"), true, "(c) has_peer(id) during the client_disconnected handler")
	check_eq(in_handler.get("same_object"), true, "(c) get_peer(id) during the handler is the same object as before")
	check_eq(in_handler.get("count"), 1, "(c) get_available_packet_count() during the handler (the packet sent before close)")
	check_eq(in_handler.get("packet"), "last words", "(c) packet read during the client_disconnected handler")
	check_eq(in_handler.get("was_string"), true, "(c) was_string_packet() for the text message")
	check(not server.has_peer(id), "(c) has_peer(id) is false after the handler returned")
	check(not server.get_peer_ids().has(id), "(c) get_peer_ids() no longer lists the id")
	check(server.get_peer(id) == null, "(c) get_peer(id) is null after the handler (push_error expected above)")
	check_eq(kept.is_connected_to_host(), false, "(c) a kept peer object reports is_connected_to_host() after the peer left")
	var err := kept.put_packet("too late".to_utf8_buffer())
	check(err != OK, "(c) put_packet() on a kept peer object after the peer left returns an error (got %s)" % error_string(err))
	check_eq(kept.get_available_packet_count(), 0, "(c) kept peer has no packets left")
	stop_polling(client)


## (d) A raw TCP client upgrades by hand, then drops the connection without a close frame:
## client_disconnected(id, false).
func test_raw_tcp_client_drops() -> void:
	section("(d) raw TCP client drops without a close frame")
	var server := tracked_server()
	var before := count_events("connected")
	var tcp := await raw_connect(server.get_local_port())
	if tcp == null:
		return
	check_eq(tcp.put_data(RAW_REQUEST.to_ascii_buffer()), OK, "(d) send the upgrade request")
	var reply := await raw_read_until(tcp, "\r\n\r\n")
	if not check(reply.begins_with("HTTP/1.1 101"), "(d) 101 reply to a hand-written upgrade request, got: %s" % reply.c_escape()):
		return
	var id := await wait_new_peer(before, "(d) raw client")
	if id < 0:
		return
	tcp.disconnect_from_host()
	await wait_disconnected(id, "(d) raw client dropped")
	await wait_seconds(0.3)
	check_eq(events_for(id), [["connected", id, ""], ["disconnected", id, false]],
		"(d) signals for a TCP drop (unclean disconnect, no close request)")


## (e) A client in a second Godot process that is killed: client_disconnected(id, false).
func test_killed_client_process() -> void:
	section("(e) client process killed")
	var server := tracked_server()
	var port := server.get_local_port()
	var before := count_events("connected")
	var on_connected := func(_id, _protocol):
		if kill_pid > 0:
			kill_result = OS.kill(kill_pid)
			kill_pid = 0
	server.client_connected.connect(on_connected)
	var pid := OS.create_process(OS.get_executable_path(), ["--headless", "--path", ProjectSettings.globalize_path("res://"),
		"--script", "res://tests/clients/idle_client.gd", "--", str(port)])
	if not check(pid > 0, "(e) OS.create_process() started the client process (pid %d)" % pid):
		server.client_connected.disconnect(on_connected)
		return
	kill_pid = pid
	var id := await wait_new_peer(before, "(e) client in a second process", 20.0)
	server.client_connected.disconnect(on_connected)
	if id < 0:
		if OS.is_process_running(pid):
			OS.kill(pid)
		kill_pid = 0
		return
	check_eq(kill_result, OK, "(e) OS.kill(pid) from the client_connected handler")
	await wait_disconnected(id, "(e) killed client process", 10.0)
	await wait_seconds(0.3)
	check_eq(events_for(id), [["connected", id, ""], ["disconnected", id, false]],
		"(e) signals for a killed client process (unclean disconnect)")
	if kill_result != OK and OS.is_process_running(pid):
		OS.kill(pid)  # OS.kill() also reaps the child, so only when it failed above


## (f) stop() with 3 clients: no peers, no signals, every client closed, the port reusable.
func test_stop_with_clients() -> void:
	section("(f) stop() with 3 connected clients")
	var server := tracked_server()
	var port := server.get_local_port()
	var clients: Array[WebSocketPeer] = []
	var ids: Array[int] = []
	for i in 3:
		var pair := await connect_identified(server, "(f) client %d" % i)
		if pair[1] < 0:
			return
		clients.append(pair[0])
		ids.append(pair[1])
	check_eq(server.get_peer_ids().size(), 3, "(f) get_peer_ids() before stop()")
	var kept: WebSocketServerPeer = server.get_peer(ids[0])
	var events_before := events.size()
	server.stop()
	check_eq(server.is_listening(), false, "(f) is_listening() right after stop()")
	for id in ids:
		check_eq(server.has_peer(id), false, "(f) has_peer(%d) right after stop()" % id)
	check_eq(server.get_peer_ids().size(), 0, "(f) get_peer_ids() is empty right after stop()")
	check_eq(server.get_local_port(), 0, "(f) get_local_port() after stop()")
	check_eq(events.size(), events_before, "(f) no signal emitted by stop() itself")
	check_eq(kept.is_connected_to_host(), false, "(f) a kept peer object reports not connected after stop()")
	var all_closed := func():
		for c in clients:
			if c.get_ready_state() != WebSocketPeer.STATE_CLOSED:
				return false
		return true
	await wait_until(all_closed, "(f) every client reaches STATE_CLOSED after stop()", 5.0)
	await wait_seconds(0.3)  # later polls must not emit anything either
	for i in clients.size():
		var c := clients[i]
		var code := c.get_close_code()
		print("(f) client %d after stop(): state %d, close code %d, reason \"%s\"" % [i, c.get_ready_state(), code, c.get_close_reason()])
		check_eq(c.get_ready_state(), WebSocketPeer.STATE_CLOSED, "(f) client %d state after stop()" % i)
		# 1001 when the close frame arrives; an abnormal close otherwise (Godot's WebSocketPeer
		# reports -1 for a close without a close frame; 1006 is the RFC's name for it).
		check(code in [1001, 1006, -1], "(f) client %d close code after stop() is 1001 (or abnormal), got %d" % [i, code])
		stop_polling(c)
	check_eq(events.size(), events_before, "(f) no signal emitted by polls after stop() (got %s)" % str(events.slice(events_before)))
	var err := server.listen(port)
	check_eq(err, OK, "(f) listen() on the same port (%d) again after stop()" % port)
	check_eq(server.is_listening(), true, "(f) is_listening() after listening again")
	if err == OK:
		var pair := await connect_identified(server, "(f) client after re-listen")
		if pair[1] >= 0:
			check(not ids.has(pair[1]), "(f) new peer after re-listen gets a fresh id")
			stop_polling(pair[0])
