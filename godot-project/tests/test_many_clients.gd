extends "res://tests/lib/test_base.gd"
## 100 Godot WebSocketPeer clients at once against one WebSocketServer: every client connects
## (all connect_to_url() calls in the same frame), gets a distinct id, has its 10 tagged messages
## echoed back exactly and in order (nothing from another client), then closes cleanly.

const CLIENTS := 100
const MESSAGES := 10
const TIME_LIMIT_S := 60.0

# Lambdas capture locals by value: everything the signal handlers change lives in members.
var connected_ids: Array = []
var connected_protocols: Array = []
var close_requests: Array = []  # [id, code, reason]
var disconnects: Array = []  # [id, was_clean_close]
var echoed := 0
var echo_errors: PackedStringArray = []


func run_tests() -> void:
	var started := Time.get_ticks_msec()
	var server := start_server()
	var port := server.get_local_port()
	if not check(port > 0, "get_local_port() after listen(0)"):
		return
	server.client_connected.connect(func(id, protocol):
		connected_ids.append(id)
		connected_protocols.append(protocol))
	server.client_close_request.connect(func(id, code, reason): close_requests.append([id, code, reason]))
	server.client_disconnected.connect(func(id, clean): disconnects.append([id, clean]))
	# Echo server: every message goes back to its sender, text as text, binary as binary.
	server.data_received.connect(func(id):
		var peer: WebSocketServerPeer = server.get_peer(id)
		if peer == null:
			echo_errors.append("data_received(%d) but get_peer() returned null" % id)
			return
		var data := peer.get_packet()
		peer.set_write_mode(WebSocketPeer.WRITE_MODE_TEXT if peer.was_string_packet() else WebSocketPeer.WRITE_MODE_BINARY)
		var err := peer.put_packet(data)
		if err != OK:
			echo_errors.append("put_packet() for peer %d returned %s" % [id, error_string(err)])
		echoed += 1)

	# 1. All clients call connect_to_url() in the same frame.
	var url := "ws://127.0.0.1:%d" % port
	var clients: Array[WebSocketPeer] = []
	for i in CLIENTS:
		var client := WebSocketPeer.new()
		var err := client.connect_to_url(url)
		if not check_eq(err, OK, "client %d: connect_to_url(%s)" % [i, url]):
			return
		clients.append(client)
	for client in clients:
		keep_polled(client)

	var all_open := func():
		for c in clients:
			if c.get_ready_state() != WebSocketPeer.STATE_OPEN:
				return false
		return true
	await wait_until(func(): return connected_ids.size() >= CLIENTS and all_open.call(),
		"%d clients OPEN and %d client_connected signals" % [CLIENTS, CLIENTS], 20.0)
	var open_count := 0
	for c in clients:
		if c.get_ready_state() == WebSocketPeer.STATE_OPEN:
			open_count += 1
	check_eq(open_count, CLIENTS, "clients in STATE_OPEN")
	check_eq(connected_ids.size(), CLIENTS, "client_connected signals")
	var distinct := {}
	for id in connected_ids:
		distinct[id] = true
		check(id is int and id >= 2 and id <= 2147483647, "peer id %s is an int in 2..2^31-1" % str(id))
	check_eq(distinct.size(), CLIENTS, "distinct peer ids among the client_connected signals")
	check_eq(connected_protocols.count(""), CLIENTS, "every client_connected protocol is \"\"")
	var server_ids := server.get_peer_ids()
	check_eq(server_ids.size(), CLIENTS, "get_peer_ids().size()")
	var ids_match := true
	for id in server_ids:
		if not distinct.has(id) or not server.has_peer(id):
			ids_match = false
	check(ids_match, "get_peer_ids() are exactly the ids from client_connected, all has_peer()")
	if open_count != CLIENTS:
		return

	# 2. Each client sends 10 messages tagged with its own index (text and binary alternate).
	for i in CLIENTS:
		for m in MESSAGES:
			var err: Error
			if m % 2 == 0:
				err = clients[i].send_text(_text_message(i, m))
			else:
				err = clients[i].send(_binary_message(i, m), WebSocketPeer.WRITE_MODE_BINARY)
			check_eq(err, OK, "client %d: send of message %d" % [i, m])

	# 3. Every client gets exactly its own 10 messages back, in order.
	var received: Array = []  # per client: [[PackedByteArray, was_string], ...]
	for i in CLIENTS:
		received.append([])
	var drain := func():
		var total := 0
		for i in CLIENTS:
			while clients[i].get_available_packet_count() > 0:
				var data: PackedByteArray = clients[i].get_packet()
				received[i].append([data, clients[i].was_string_packet()])
			total += received[i].size()
		return total
	await wait_until(func(): return drain.call() >= CLIENTS * MESSAGES,
		"%d echoed messages to arrive" % (CLIENTS * MESSAGES), 20.0)
	# A moment more to catch any message delivered twice or to the wrong client.
	await wait_seconds(0.3)
	drain.call()
	check_eq(echo_errors, PackedStringArray(), "errors in the server's echo handler")
	check_eq(echoed, CLIENTS * MESSAGES, "messages seen by data_received")
	var wrong := PackedStringArray()
	for i in CLIENTS:
		var got: Array = received[i]
		if got.size() != MESSAGES:
			wrong.append("client %d got %d messages, expected %d" % [i, got.size(), MESSAGES])
			continue
		for m in MESSAGES:
			var text: bool = m % 2 == 0
			var expected: PackedByteArray = _text_message(i, m).to_utf8_buffer() if text else _binary_message(i, m)
			if got[m][0] != expected or got[m][1] != text:
				wrong.append("client %d message %d: expected %s (%s), got %s (%s)" % [i, m,
					_describe(expected), "text" if text else "binary", _describe(got[m][0]),
					"text" if got[m][1] else "binary"])
				break
	check_eq(wrong, PackedStringArray(), "every client got exactly its own %d messages back, in order" % MESSAGES)

	# 4. Every client closes; the server reports 100 clean disconnects.
	for i in CLIENTS:
		clients[i].close(1000, "client %d done" % i)
	await wait_until(func(): return disconnects.size() >= CLIENTS,
		"%d client_disconnected signals" % CLIENTS, 20.0)
	var all_closed := func():
		for c in clients:
			if c.get_ready_state() != WebSocketPeer.STATE_CLOSED:
				return false
		return true
	await wait_until(all_closed, "all clients to reach STATE_CLOSED", 10.0)
	await wait_seconds(0.2)  # catch duplicate client_disconnected signals
	check_eq(disconnects.size(), CLIENTS, "client_disconnected signals")
	var disconnected := {}
	var unclean := PackedStringArray()
	for d in disconnects:
		disconnected[d[0]] = true
		if d[1] != true:
			unclean.append(str(d[0]))
	check_eq(unclean, PackedStringArray(), "ids whose client_disconnected had was_clean_close != true")
	check_eq(disconnected.size(), CLIENTS, "distinct ids in client_disconnected")
	var unknown := 0
	for id in disconnected:
		if not distinct.has(id):
			unknown += 1
	check_eq(unknown, 0, "client_disconnected ids that never got client_connected")
	check_eq(close_requests.size(), CLIENTS, "client_close_request signals")
	var bad_requests := PackedStringArray()
	for r in close_requests:
		if r[1] != 1000 or not (r[2] as String).begins_with("client "):
			bad_requests.append(str(r))
	check_eq(bad_requests, PackedStringArray(), "client_close_request with a code other than 1000 or a wrong reason")
	check_eq(server.get_peer_ids().size(), 0, "get_peer_ids() after every client left")
	var bad_codes := 0
	for c in clients:
		if c.get_close_code() != 1000:
			bad_codes += 1
	check_eq(bad_codes, 0, "clients whose get_close_code() is not 1000")
	for c in clients:
		stop_polling(c)

	var seconds := (Time.get_ticks_msec() - started) / 1000.0
	print("100 clients: connect, 1000 echoes and close in %.2f s" % seconds)
	check(seconds < TIME_LIMIT_S, "finished in %.1f s (limit %.0f s)" % [seconds, TIME_LIMIT_S])


func _text_message(client: int, index: int) -> String:
	return "client %d message %d" % [client, index]


## Binary messages carry the client index and message index plus a pattern; sizes vary.
func _binary_message(client: int, index: int) -> PackedByteArray:
	var data := PackedByteArray()
	data.resize(8 + (client * 37 + index * 11) % 200)
	data.encode_u32(0, client)
	data.encode_u32(4, index)
	for k in range(8, data.size()):
		data[k] = (client + index * 7 + k) % 256
	return data


func _describe(data: PackedByteArray) -> String:
	var text := data.get_string_from_utf8()
	if text.begins_with("client "):
		return "\"%s\"" % text
	return "%d bytes [%s...]" % [data.size(), data.slice(0, 8).hex_encode()]
