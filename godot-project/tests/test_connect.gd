extends "res://tests/lib/test_base.gd"
## Connecting: peer ids and addresses, sub-protocol negotiation and refusal, the visible upgrade
## request, and several clients told apart by id. Clients are Godot 4's own WebSocketPeer.

const MAX_ID := 2147483647
const UNKNOWN_ID := 12345


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketServer"), "class WebSocketServer is registered (extension loaded)"):
		return
	await test_connected_peer_has_id_address_and_peer_object()
	await test_subprotocol_first_offered_that_server_lists_wins()
	await test_subprotocol_mismatch_is_refused_without_signal()
	await test_upgrade_request_path_query_and_headers_are_visible()
	await test_two_clients_get_distinct_ids_and_messages_are_attributed()


## (a) client_connected(id, ""), has_peer/get_peer/get_peer_ids/get_peer_address/get_peer_port.
func test_connected_peer_has_id_address_and_peer_object() -> void:
	var server := start_server()
	var port := server.get_local_port()
	var connected := []
	server.client_connected.connect(func(id, protocol): connected.append([id, protocol]))
	var client := await connect_client("ws://127.0.0.1:%d" % port)
	check_eq(client.get_ready_state(), WebSocketPeer.STATE_OPEN, "(a) client state after connecting")
	if not await wait_until(func(): return connected.size() == 1, "(a) client_connected"):
		_teardown(server, [client])
		return
	var id = connected[0][0]
	check_eq(typeof(id), TYPE_INT, "(a) client_connected id is an int")
	check(id >= 2 and id <= MAX_ID, "(a) peer id %s is in 2..2147483647" % id)
	check_eq(connected[0][1], "", "(a) client_connected protocol when neither side lists any")
	check(server.has_peer(id), "(a) has_peer(id) after client_connected")
	check_eq(server.get_peer_address(id), "127.0.0.1", "(a) get_peer_address(id)")
	var peer_port = server.get_peer_port(id)
	check_eq(typeof(peer_port), TYPE_INT, "(a) get_peer_port(id) is an int")
	check(peer_port > 0 and peer_port <= 65535, "(a) get_peer_port(id) %s is a TCP port" % peer_port)
	check(peer_port != port, "(a) get_peer_port(id) %s differs from the server port %d" % [peer_port, port])
	check(server.get_peer_ids().has(id), "(a) get_peer_ids() %s contains %d" % [server.get_peer_ids(), id])
	check_eq(server.get_peer_ids().size(), 1, "(a) get_peer_ids().size() with one client")
	var peer = server.get_peer(id)
	if check(peer is WebSocketServerPeer, "(a) get_peer(id) is a WebSocketServerPeer (got %s)" % peer):
		check_eq(peer.get_connected_host(), server.get_peer_address(id), "(a) peer.get_connected_host()")
		check_eq(peer.get_connected_port(), peer_port, "(a) peer.get_connected_port()")
		check(peer.is_connected_to_host(), "(a) peer.is_connected_to_host()")
		check_eq(peer.get_selected_protocol(), "", "(a) peer.get_selected_protocol() without protocols")
	# Unknown ids: null + push_error (printed as "ERROR:", which is expected here).
	if not connected.any(func(c): return c[0] == UNKNOWN_ID):
		check(server.get_peer(UNKNOWN_ID) == null, "(a) get_peer(%d) of an unknown id is null" % UNKNOWN_ID)
		check(not server.has_peer(UNKNOWN_ID), "(a) has_peer(%d) of an unknown id is false" % UNKNOWN_ID)
	_teardown(server, [client])


## (b) server lists ["chat", "json"], client offers ["json"] -> "json" on both sides.
func test_subprotocol_first_offered_that_server_lists_wins() -> void:
	var server := start_server(PackedStringArray(["chat", "json"]))
	var connected := []
	server.client_connected.connect(func(id, protocol): connected.append([id, protocol]))
	var client := await connect_client("ws://127.0.0.1:%d" % server.get_local_port(), PackedStringArray(["json"]))
	check_eq(client.get_ready_state(), WebSocketPeer.STATE_OPEN, "(b) client offering [json] to a server listing [chat, json] is OPEN")
	check_eq(client.get_selected_protocol(), "json", "(b) client.get_selected_protocol()")
	if await wait_until(func(): return connected.size() == 1, "(b) client_connected"):
		check_eq(connected[0][1], "json", "(b) client_connected protocol")
		var peer = server.get_peer(connected[0][0])
		if check(peer is WebSocketServerPeer, "(b) get_peer(id) is a WebSocketServerPeer"):
			check_eq(peer.get_selected_protocol(), "json", "(b) peer.get_selected_protocol()")
	_teardown(server, [client])


## (c) no common sub-protocol -> refused: the client never reaches OPEN, no client_connected.
func test_subprotocol_mismatch_is_refused_without_signal() -> void:
	var chat_server := start_server(PackedStringArray(["chat"]))
	var plain_server := start_server()
	var connected := []
	chat_server.client_connected.connect(func(id, protocol): connected.append(["chat server", id, protocol]))
	plain_server.client_connected.connect(func(id, protocol): connected.append(["plain server", id, protocol]))
	var cases := [
		["client offering [other] to a server listing [chat]", chat_server, PackedStringArray(["other"])],
		["client offering nothing to a server listing [chat]", chat_server, PackedStringArray()],
		["client offering [x] to a server listing none", plain_server, PackedStringArray(["x"])],
	]
	var clients := []
	var seen := []  # per client: every ready state it showed
	for c in cases:
		var client := WebSocketPeer.new()
		client.supported_protocols = c[2]
		check_eq(client.connect_to_url("ws://127.0.0.1:%d" % c[1].get_local_port()), OK, "(c) connect_to_url, %s" % c[0])
		keep_polled(client)
		clients.append(client)
		seen.append([])
	var record := func():
		for i in clients.size():
			var state: int = clients[i].get_ready_state()
			if not seen[i].has(state):
				seen[i].append(state)
	await wait_until(func():
		record.call()
		return clients.all(func(cl): return cl.get_ready_state() == WebSocketPeer.STATE_CLOSED),
		"(c) refused clients to reach CLOSED")
	# Keep watching a while: a late accept would show up as OPEN or a client_connected.
	var deadline := Time.get_ticks_msec() + 1000
	while Time.get_ticks_msec() < deadline:
		record.call()
		await process_frame
	for i in cases.size():
		check(not seen[i].has(WebSocketPeer.STATE_OPEN), "(c) %s never reaches OPEN (states seen %s)" % [cases[i][0], seen[i]])
		check_eq(clients[i].get_ready_state(), WebSocketPeer.STATE_CLOSED, "(c) final state of %s" % cases[i][0])
	check_eq(connected, [], "(c) client_connected emissions for refused clients")
	check_eq(chat_server.get_peer_ids().size(), 0, "(c) peers of the [chat] server")
	check_eq(plain_server.get_peer_ids().size(), 0, "(c) peers of the server without protocols")
	_teardown(chat_server, clients)
	_teardown(plain_server, [])


## (d) get_requested_url() holds path + query, get_request_headers() the extra header.
func test_upgrade_request_path_query_and_headers_are_visible() -> void:
	var server := start_server()
	var connected := []
	server.client_connected.connect(func(id, _protocol): connected.append(id))
	var client := WebSocketPeer.new()
	client.handshake_headers = PackedStringArray(["X-Token: secret"])
	var url := "ws://127.0.0.1:%d/room/5?token=abc" % server.get_local_port()
	check_eq(client.connect_to_url(url), OK, "(d) connect_to_url(%s)" % url)
	keep_polled(client)
	if await wait_until(func(): return connected.size() == 1, "(d) client_connected for %s" % url):
		var peer = server.get_peer(connected[0])
		if check(peer is WebSocketServerPeer, "(d) get_peer(id) is a WebSocketServerPeer"):
			check_eq(peer.get_requested_url(), "/room/5?token=abc", "(d) peer.get_requested_url()")
			var headers: Dictionary = peer.get_request_headers()
			check_eq(headers.get("x-token"), "secret", "(d) get_request_headers()[\"x-token\"] (headers: %s)" % headers)
	_teardown(server, [client])


## (e) two clients: distinct ids; each message reaches the script under its sender's id, and
## get_peer(id) sends to that client only.
func test_two_clients_get_distinct_ids_and_messages_are_attributed() -> void:
	var server := start_server()
	var url := "ws://127.0.0.1:%d" % server.get_local_port()
	var connected := []
	var received := {}  # id -> texts in arrival order
	server.client_connected.connect(func(id, _protocol): connected.append(id))
	server.data_received.connect(func(id):
		var peer: WebSocketServerPeer = server.get_peer(id)
		while peer.get_available_packet_count() > 0:
			var text := peer.get_packet().get_string_from_utf8()
			if not received.has(id):
				received[id] = []
			received[id].append(text))
	# Connect one after the other so we know which id belongs to which client.
	var client_a := await connect_client(url)
	if not await wait_until(func(): return connected.size() == 1, "(e) client_connected for client A"):
		_teardown(server, [client_a])
		return
	var client_b := await connect_client(url)
	if not await wait_until(func(): return connected.size() == 2, "(e) client_connected for client B"):
		_teardown(server, [client_a, client_b])
		return
	var id_a: int = connected[0]
	var id_b: int = connected[1]
	check(id_a != id_b, "(e) the two clients get different ids (%d, %d)" % [id_a, id_b])
	check_eq(server.get_peer_ids().size(), 2, "(e) get_peer_ids().size() with two clients")
	for i in 5:  # interleaved
		client_a.send_text("A%d" % i)
		client_b.send_text("B%d" % i)
	await wait_until(func():
		return received.get(id_a, []).size() + received.get(id_b, []).size() >= 10,
		"(e) 10 messages from two clients")
	check_eq(received.get(id_a, []), ["A0", "A1", "A2", "A3", "A4"], "(e) messages attributed to client A's id %d" % id_a)
	check_eq(received.get(id_b, []), ["B0", "B1", "B2", "B3", "B4"], "(e) messages attributed to client B's id %d" % id_b)
	# And the other way: get_peer(id) reaches that client only.
	server.get_peer(id_a).put_packet("to A".to_utf8_buffer())
	server.get_peer(id_b).put_packet("to B".to_utf8_buffer())
	await wait_until(func():
		return client_a.get_available_packet_count() >= 1 and client_b.get_available_packet_count() >= 1,
		"(e) a message at each client")
	await wait_seconds(0.1)  # anything misrouted would have arrived by now
	check_eq(client_a.get_available_packet_count(), 1, "(e) packets at client A")
	check_eq(client_b.get_available_packet_count(), 1, "(e) packets at client B")
	check_eq(client_a.get_packet().get_string_from_utf8(), "to A", "(e) client A receives get_peer(id_a)'s message")
	check_eq(client_b.get_packet().get_string_from_utf8(), "to B", "(e) client B receives get_peer(id_b)'s message")
	_teardown(server, [client_a, client_b])


## Closes `clients`, stops `server` and breaks the lambda <-> server reference cycles.
func _teardown(server: WebSocketServer, clients: Array) -> void:
	for client in clients:
		client.close()
		stop_polling(client)
	server.stop()
	disconnect_all(server)
	stop_polling(server)
