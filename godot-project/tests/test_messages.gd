extends "res://tests/lib/test_base.gd"
## Messages between WebSocketServer and Godot 4's own WebSocketPeer: text vs binary both ways,
## echo up to the configured maximum (and 1009 past it), ordering of 1,000 messages each way,
## put_var/get_var, one data_received per message and visibility only through poll(), the
## outbound counter, and TEXT mode refusing invalid UTF-8.

const COUNT := 1000
## set_buffers(IN_KB, IN_PACKETS, OUT_KB, OUT_PACKETS) in the echo test: the largest message
## the server accepts is IN_KB KiB.
const IN_KB := 256
const IN_PACKETS := 64
const OUT_KB := 256
const OUT_PACKETS := 64


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketServer"), "class WebSocketServer is registered (extension loaded)"):
		return
	await test_text_and_binary_are_told_apart_both_ways()
	await test_echo_up_to_the_maximum_and_1009_beyond()
	await test_thousand_messages_each_way_arrive_in_order()
	await test_put_var_get_var_round_trip()
	await test_packets_become_visible_only_in_poll_once_each()
	await test_outbound_buffered_amount_is_an_int()
	await test_text_mode_refuses_invalid_utf8()
	await test_send_and_send_text_deliver_empty_messages()


## (a) send_text -> was_string_packet true, put_packet -> false; the peer's write mode decides
## what the client sees.
func test_text_and_binary_are_told_apart_both_ways() -> void:
	var ctx := await _server_and_client("(a)")
	if ctx.is_empty():
		return
	var server: WebSocketServer = ctx.server
	var client: WebSocketPeer = ctx.client
	var peer: WebSocketServerPeer = ctx.peer
	var got := []  # [bytes, was_string]
	server.data_received.connect(func(id):
		var p: WebSocketServerPeer = server.get_peer(id)
		got.append([p.get_packet(), p.was_string_packet()]))

	check_eq(client.send_text("héllo"), OK, "(a) client.send_text(\"héllo\")")
	if await wait_until(func(): return got.size() == 1, "(a) text message at the server"):
		check_eq(got[0][0], "héllo".to_utf8_buffer(), "(a) bytes of the text message")
		check_eq(got[0][1], true, "(a) was_string_packet() after a text message")
	var binary := PackedByteArray([0, 1, 2, 0xff, 0xfe, 0x80])
	check_eq(client.put_packet(binary), OK, "(a) client.put_packet(binary)")
	if await wait_until(func(): return got.size() == 2, "(a) binary message at the server"):
		check_eq(got[1][0], binary, "(a) bytes of the binary message")
		check_eq(got[1][1], false, "(a) was_string_packet() after a binary message")

	check_eq(peer.get_write_mode(), WebSocketPeer.WRITE_MODE_BINARY, "(a) default peer.get_write_mode()")
	check_eq(peer.put_packet("bin".to_utf8_buffer()), OK, "(a) peer.put_packet() in BINARY mode")
	peer.set_write_mode(WebSocketPeer.WRITE_MODE_TEXT)
	check_eq(peer.get_write_mode(), WebSocketPeer.WRITE_MODE_TEXT, "(a) peer.get_write_mode() after set_write_mode(TEXT)")
	check_eq(peer.put_packet("tëxt".to_utf8_buffer()), OK, "(a) peer.put_packet() in TEXT mode")
	if await wait_until(func(): return client.get_available_packet_count() >= 2, "(a) two messages at the client"):
		check_eq(client.get_packet(), "bin".to_utf8_buffer(), "(a) client receives the BINARY-mode packet")
		check_eq(client.was_string_packet(), false, "(a) client.was_string_packet() for a BINARY-mode packet")
		check_eq(client.get_packet(), "tëxt".to_utf8_buffer(), "(a) client receives the TEXT-mode packet")
		check_eq(client.was_string_packet(), true, "(a) client.was_string_packet() for a TEXT-mode packet")
	_teardown(server, [client])


## (b) echo (text stays text, binary stays binary) of 1 byte, 64 KiB and exactly the maximum
## set by set_buffers(); one byte more closes the client with 1009.
func test_echo_up_to_the_maximum_and_1009_beyond() -> void:
	var max_size := IN_KB * 1024
	var server := WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	check_eq(server.set_buffers(IN_KB, IN_PACKETS, OUT_KB, OUT_PACKETS), OK, "(b) set_buffers() before listen")
	check_eq(server.listen(0), OK, "(b) listen(0)")
	keep_polled(server)
	var connected := []
	var disconnected := []
	server.client_connected.connect(func(id, _protocol): connected.append(id))
	server.client_disconnected.connect(func(id, clean): disconnected.append([id, clean]))
	server.data_received.connect(func(id):
		var p: WebSocketServerPeer = server.get_peer(id)
		while p.get_available_packet_count() > 0:
			var data := p.get_packet()
			p.set_write_mode(WebSocketPeer.WRITE_MODE_TEXT if p.was_string_packet() else WebSocketPeer.WRITE_MODE_BINARY)
			var err := p.put_packet(data)
			if err != OK:
				fail("(b) echo of %d bytes: put_packet() returned %s" % [data.size(), error_string(err)]))
	var client := WebSocketPeer.new()
	# Godot's client defaults (64 KiB) are too small for a 256 KiB message.
	client.inbound_buffer_size = 1 << 20
	client.outbound_buffer_size = 1 << 20
	check_eq(client.connect_to_url("ws://127.0.0.1:%d" % server.get_local_port()), OK, "(b) connect_to_url")
	keep_polled(client)
	if not await wait_until(func(): return connected.size() == 1, "(b) client_connected"):
		_teardown(server, [client])
		return
	var id: int = connected[0]

	var cases := [
		["1 byte, binary", _pattern(1), false],
		["1 byte, text", "a".to_utf8_buffer(), true],
		["64 KiB, binary", _pattern(64 * 1024), false],
		["64 KiB, text", "x".repeat(64 * 1024).to_utf8_buffer(), true],
		["%d bytes (the maximum), binary" % max_size, _pattern(max_size), false],
		["%d bytes (the maximum), text" % max_size, "y".repeat(max_size).to_utf8_buffer(), true],
	]
	for c in cases:
		var data: PackedByteArray = c[1]
		var err: int = client.send(data, WebSocketPeer.WRITE_MODE_TEXT if c[2] else WebSocketPeer.WRITE_MODE_BINARY)
		check_eq(err, OK, "(b) client send of %s" % c[0])
		if not await wait_until(func(): return client.get_available_packet_count() > 0, "(b) echo of %s" % c[0]):
			break
		var echo := client.get_packet()
		check_eq(echo.size(), data.size(), "(b) size of the echo of %s" % c[0])
		check(echo == data, "(b) echo of %s is intact" % c[0])
		check_eq(client.was_string_packet(), c[2], "(b) echo of %s keeps its text/binary kind" % c[0])
	check_eq(disconnected, [], "(b) client_disconnected while sending messages up to the maximum")

	check_eq(client.put_packet(_pattern(max_size + 1)), OK, "(b) client sends %d bytes (maximum + 1)" % (max_size + 1))
	await wait_until(func(): return client.get_ready_state() == WebSocketPeer.STATE_CLOSED,
		"(b) client closed after sending maximum + 1 bytes")
	# -1 means the client never read a close frame: e.g. the server reset the TCP connection
	# (closing with unread input) before the client got to its 1009 close frame.
	check_eq(client.get_close_code(), 1009,
		"(b) client.get_close_code() after sending maximum + 1 bytes (close reason: \"%s\"; -1 = no close frame seen by the client)" % client.get_close_reason())
	if await wait_until(func(): return disconnected.size() >= 1, "(b) client_disconnected after an oversized message"):
		check_eq(disconnected, [[id, false]], "(b) client_disconnected(id, was_clean_close) after an oversized message")
	check(not server.has_peer(id), "(b) has_peer(id) after client_disconnected")
	_teardown(server, [client])


## (c) 1,000 messages sent in one go arrive in order, each way.
func test_thousand_messages_each_way_arrive_in_order() -> void:
	var ctx := await _server_and_client("(c)")
	if ctx.is_empty():
		return
	var server: WebSocketServer = ctx.server
	var client: WebSocketPeer = ctx.client
	var peer: WebSocketServerPeer = ctx.peer
	var signals := [0]
	server.data_received.connect(func(_id): signals[0] += 1)  # read below, not here

	var send_errors := 0
	for i in COUNT:
		if client.send_text("message %d" % i) != OK:
			send_errors += 1
	check_eq(send_errors, 0, "(c) client send_text() errors among %d" % COUNT)
	await wait_until(func(): return signals[0] >= COUNT, "(c) %d data_received signals" % COUNT, 10.0)
	await wait_seconds(0.1)  # would show duplicates
	check_eq(signals[0], COUNT, "(c) data_received signals for %d client messages" % COUNT)
	check_eq(peer.get_available_packet_count(), COUNT, "(c) peer.get_available_packet_count()")
	var out_of_order := []
	for i in COUNT:
		var text := peer.get_packet().get_string_from_utf8()
		if text != "message %d" % i and out_of_order.size() < 5:
			out_of_order.append("#%d: %s" % [i, text])
	check_eq(out_of_order, [], "(c) client->server messages out of order or lost (first 5)")
	check_eq(peer.get_available_packet_count(), 0, "(c) peer.get_available_packet_count() after draining")

	send_errors = 0
	for i in COUNT:
		if peer.put_packet(("reply %d" % i).to_utf8_buffer()) != OK:
			send_errors += 1
	check_eq(send_errors, 0, "(c) peer.put_packet() errors among %d" % COUNT)
	await wait_until(func(): return client.get_available_packet_count() >= COUNT,
		"(c) %d messages at the client" % COUNT, 10.0)
	check_eq(client.get_available_packet_count(), COUNT, "(c) client.get_available_packet_count()")
	out_of_order = []
	for i in COUNT:
		var text := client.get_packet().get_string_from_utf8()
		if text != "reply %d" % i and out_of_order.size() < 5:
			out_of_order.append("#%d: %s" % [i, text])
	check_eq(out_of_order, [], "(c) server->client messages out of order or lost (first 5)")
	_teardown(server, [client])


## (d) put_var on the server / bytes_to_var on the client, var_to_bytes on the client / get_var
## on the server.
func test_put_var_get_var_round_trip() -> void:
	var ctx := await _server_and_client("(d)")
	if ctx.is_empty():
		return
	var server: WebSocketServer = ctx.server
	var client: WebSocketPeer = ctx.client
	var peer: WebSocketServerPeer = ctx.peer
	var vars := []
	server.data_received.connect(func(id): vars.append(server.get_peer(id).get_var()))

	var sent := {"a": [1, 2.5, "x"], "b": Vector2(1, 2)}
	check_eq(peer.put_var(sent), OK, "(d) peer.put_var(dictionary)")
	if await wait_until(func(): return client.get_available_packet_count() > 0, "(d) put_var message at the client"):
		check_eq(bytes_to_var(client.get_packet()), sent, "(d) bytes_to_var() of the server's put_var()")
	check_eq(client.put_packet(var_to_bytes([1, "two", 3.0])), OK, "(d) client sends var_to_bytes(array)")
	if await wait_until(func(): return vars.size() > 0, "(d) var_to_bytes message at the server"):
		check_eq(vars[0], [1, "two", 3.0], "(d) peer.get_var() of the client's var_to_bytes()")
	_teardown(server, [client])


## (e) a message is readable, and data_received emitted, only inside the server's poll(); one
## signal per message.
func test_packets_become_visible_only_in_poll_once_each() -> void:
	var ctx := await _server_and_client("(e)")
	if ctx.is_empty():
		return
	var server: WebSocketServer = ctx.server
	var client: WebSocketPeer = ctx.client
	var peer: WebSocketServerPeer = ctx.peer
	var signals := []
	server.data_received.connect(func(id): signals.append(id))

	stop_polling(server)
	for i in 3:
		client.send_text("m%d" % i)
	await wait_seconds(0.3)  # the client is still polled, so the messages reach the server's socket
	check_eq(peer.get_available_packet_count(), 0, "(e) packets readable before the server's poll()")
	check_eq(signals.size(), 0, "(e) data_received signals before the server's poll()")
	var deadline := Time.get_ticks_msec() + 5000
	while peer.get_available_packet_count() < 3 and Time.get_ticks_msec() < deadline:
		server.poll()  # by hand
		check_eq(signals.size(), peer.get_available_packet_count(), "(e) data_received signals == readable packets after a poll()")
		if peer.get_available_packet_count() < 3:
			await process_frame
	check_eq(peer.get_available_packet_count(), 3, "(e) packets readable after polling by hand")
	keep_polled(server)
	await wait_seconds(0.2)
	check_eq(signals, [ctx.id, ctx.id, ctx.id], "(e) data_received(id) once per message")
	check_eq(peer.get_available_packet_count(), 3, "(e) readable packets after more polls (no duplicates)")
	for i in 3:
		check_eq(peer.get_packet().get_string_from_utf8(), "m%d" % i, "(e) packet %d" % i)
	_teardown(server, [client])


## (f) get_current_outbound_buffered_amount() is an int >= 0.
func test_outbound_buffered_amount_is_an_int() -> void:
	var ctx := await _server_and_client("(f)")
	if ctx.is_empty():
		return
	var peer: WebSocketServerPeer = ctx.peer
	var amount = peer.get_current_outbound_buffered_amount()
	check_eq(typeof(amount), TYPE_INT, "(f) type of get_current_outbound_buffered_amount() when idle")
	check(amount is int and amount >= 0, "(f) get_current_outbound_buffered_amount() %s >= 0 when idle" % amount)
	peer.put_packet(_pattern(64 * 1024))
	amount = peer.get_current_outbound_buffered_amount()
	check_eq(typeof(amount), TYPE_INT, "(f) type of get_current_outbound_buffered_amount() after a send")
	check(amount is int and amount >= 0, "(f) get_current_outbound_buffered_amount() %s >= 0 after a send" % amount)
	_teardown(ctx.server, [ctx.client])


## (g) TEXT mode + invalid UTF-8 -> ERR_INVALID_DATA, and the peer keeps working.
func test_text_mode_refuses_invalid_utf8() -> void:
	var ctx := await _server_and_client("(g)")
	if ctx.is_empty():
		return
	var client: WebSocketPeer = ctx.client
	var peer: WebSocketServerPeer = ctx.peer
	peer.set_write_mode(WebSocketPeer.WRITE_MODE_TEXT)
	# Prints "ERROR: ... not valid UTF-8" (push_error): expected.
	check_eq(peer.put_packet(PackedByteArray([0x66, 0xff, 0xfe, 0x80])), ERR_INVALID_DATA,
		"(g) put_packet(invalid UTF-8) in TEXT mode")
	check(peer.is_connected_to_host(), "(g) peer still connected after the refused packet")
	check_eq(peer.put_packet("still fine".to_utf8_buffer()), OK, "(g) put_packet(valid UTF-8) in TEXT mode afterwards")
	if await wait_until(func(): return client.get_available_packet_count() > 0, "(g) the valid text at the client"):
		check_eq(client.get_packet().get_string_from_utf8(), "still fine", "(g) the client gets only the valid text")
		check(client.was_string_packet(), "(g) ...as a text message")
	await wait_seconds(0.1)
	check_eq(client.get_available_packet_count(), 0, "(g) nothing else reached the client")
	check_eq(client.get_ready_state(), WebSocketPeer.STATE_OPEN, "(g) client still OPEN")
	_teardown(ctx.server, [ctx.client])


## (h) send()/send_text() (Godot 4 WebSocketPeer style) send what put_packet() cannot: an empty
## message (Godot's PacketPeer.put_packet() skips 0-byte packets before reaching the extension).
func test_send_and_send_text_deliver_empty_messages() -> void:
	var ctx := await _server_and_client("(h)")
	if ctx.is_empty():
		return
	var client: WebSocketPeer = ctx.client
	var peer: WebSocketServerPeer = ctx.peer
	check_eq(peer.send(PackedByteArray()), OK, "(h) send(empty) returns OK")
	check_eq(peer.send_text(""), OK, "(h) send_text(\"\") returns OK")
	check_eq(peer.send("hé".to_utf8_buffer(), WebSocketPeer.WRITE_MODE_TEXT), OK, "(h) send(bytes, WRITE_MODE_TEXT)")
	check_eq(peer.send_text("ok"), OK, "(h) send_text(\"ok\")")
	check_eq(peer.send(PackedByteArray([0xff]), WebSocketPeer.WRITE_MODE_TEXT), ERR_INVALID_DATA,
		"(h) send(invalid UTF-8, WRITE_MODE_TEXT) is refused")  # push_error expected
	var got: Array = []
	await wait_until(func():
		while client.get_available_packet_count() > 0:
			var packet := client.get_packet()
			got.append([packet.get_string_from_utf8(), packet.size(), client.was_string_packet()])
		return got.size() >= 4, "(h) four messages at the client")
	check_eq(got, [["", 0, false], ["", 0, true], ["hé", 3, true], ["ok", 2, true]],
		"(h) empty binary, empty text, then two texts, in order")
	_teardown(ctx.server, [ctx.client])


## A server on 127.0.0.1 with default limits and one connected client. Returns
## {server, client, id, peer}, or {} (after a failed check) when the client did not connect.
func _server_and_client(label: String) -> Dictionary:
	var server := start_server()
	var connected := []
	server.client_connected.connect(func(id, _protocol): connected.append(id))
	var client := await connect_client("ws://127.0.0.1:%d" % server.get_local_port())
	if not await wait_until(func(): return connected.size() == 1, "%s client_connected" % label):
		_teardown(server, [client])
		return {}
	var peer = server.get_peer(connected[0])
	if not check(peer is WebSocketServerPeer, "%s get_peer(id) is a WebSocketServerPeer" % label):
		_teardown(server, [client])
		return {}
	disconnect_all(server)  # the caller connects its own handlers
	return {"server": server, "client": client, "id": connected[0], "peer": peer}


## `size` bytes of a non-repeating-looking pattern.
func _pattern(size: int) -> PackedByteArray:
	var data := PackedByteArray()
	data.resize(size)
	for i in size:
		data[i] = (i * 31 + (i >> 8) * 7) & 0xff
	return data


## Closes `clients`, stops `server` and breaks the lambda <-> server reference cycles.
func _teardown(server: WebSocketServer, clients: Array) -> void:
	for client in clients:
		client.close()
		stop_polling(client)
	server.stop()
	disconnect_all(server)
	stop_polling(server)
