extends "res://tests/lib/test_base.gd"
## data_received as Godot 3 scripts use it, with messages arriving in bursts: poll() makes a
## burst readable, then emits one data_received per message; replies written by the handlers
## leave when that poll() ends. Checked with Godot 4's own WebSocketPeer clients:
## (a) a drain-loop handler echoes a burst of 300 from each of two clients, in order, one
##     signal per message;
## (b) a handler that reads one packet per signal finds one every time;
## (c) replies written inside handlers reach the client with no later server poll();
## (d) stop() inside a handler ends the batch: no further data_received, no errors.

const BURST := 300


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketServer"), "class WebSocketServer is registered (extension loaded)"):
		return
	await test_drain_loop_echoes_bursts_in_order()
	await test_one_packet_per_signal()
	await test_replies_leave_without_another_poll()
	await test_stop_inside_a_handler_ends_the_batch()


## Server + `count` clients; the server is polled by hand (stop_polling) so that bursts arrive
## in one poll(). Returns {} after a failed check.
func _setup(label: String, count: int) -> Dictionary:
	var server := start_server()
	var ids := []
	server.client_connected.connect(func(id, _protocol): ids.append(id))
	var clients := []
	for i in count:
		clients.append(await connect_client("ws://127.0.0.1:%d" % server.get_local_port()))
	if not await wait_until(func(): return ids.size() == count, "%s %d clients connected" % [label, count]):
		_teardown(server, clients)
		return {}
	disconnect_all(server)
	stop_polling(server)
	return {"server": server, "clients": clients}


func _teardown(server: WebSocketServer, clients: Array) -> void:
	for client in clients:
		client.close()
		stop_polling(client)
	server.stop()
	disconnect_all(server)
	stop_polling(server)


## Polls the server by hand until `condition` holds (or 5 s).
func _poll_until(server: WebSocketServer, condition: Callable, what: String) -> bool:
	var deadline := Time.get_ticks_msec() + 5000
	while not condition.call():
		if Time.get_ticks_msec() > deadline:
			fail("%s (timed out)" % what)
			return false
		server.poll()
		await process_frame
	return true


func _text(i: int, client: int) -> PackedByteArray:
	return ("c%d-m%d" % [client, i]).to_utf8_buffer()


func test_drain_loop_echoes_bursts_in_order() -> void:
	var ctx := await _setup("(a)", 2)
	if ctx.is_empty():
		return
	var server: WebSocketServer = ctx.server
	var clients: Array = ctx.clients
	var signals := [0]
	var echoed := [0]
	var most_in_one_call := [0]
	server.data_received.connect(func(id):
		signals[0] += 1
		var p = server.get_peer(id)
		var n := 0
		while p.get_available_packet_count() > 0:
			p.put_packet(p.get_packet())
			n += 1
		echoed[0] += n
		most_in_one_call[0] = maxi(most_in_one_call[0], n))
	for i in BURST:
		for c in clients.size():
			clients[c].put_packet(_text(i, c))
	await wait_seconds(0.3)  # the clients are polled: the bursts reach the server's sockets
	await _poll_until(server, func(): return echoed[0] == 2 * BURST, "(a) %d messages echoed" % (2 * BURST))
	check_eq(signals[0], 2 * BURST, "(a) data_received signals (one per message)")
	check(most_in_one_call[0] > 1, "(a) a handler found the rest of its burst readable (%d packets in one call)" % most_in_one_call[0])
	var got := [[], []]
	await wait_until(func():
		for c in clients.size():
			while clients[c].get_available_packet_count() > 0:
				got[c].append(clients[c].get_packet())
		return got[0].size() == BURST and got[1].size() == BURST, "(a) every echo back at its client")
	for c in clients.size():
		var in_order: bool = got[c].size() == BURST
		for i in got[c].size():
			if got[c][i] != _text(i, c):
				in_order = false
				break
		check(in_order, "(a) client %d got its %d echoes in order" % [c, BURST])
	_teardown(server, clients)


func test_one_packet_per_signal() -> void:
	var ctx := await _setup("(b)", 2)
	if ctx.is_empty():
		return
	var server: WebSocketServer = ctx.server
	var clients: Array = ctx.clients
	var read := {}  # id -> [packets]
	var empty := [0]
	server.data_received.connect(func(id):
		var p = server.get_peer(id)
		if p.get_available_packet_count() == 0:
			empty[0] += 1
			return
		if not read.has(id):
			read[id] = []
		read[id].append(p.get_packet()))
	for i in 50:
		for c in clients.size():
			clients[c].put_packet(_text(i, c))
	await wait_seconds(0.3)
	await _poll_until(server, func(): return read.values().reduce(func(a, v): return a + v.size(), 0) == 100, "(b) 100 packets read one per signal")
	check_eq(empty[0], 0, "(b) signals that found no packet")
	check_eq(read.size(), 2, "(b) peers heard from")
	for id in read:
		var first: String = read[id][0].get_string_from_utf8()
		var c := int(first.substr(1, first.find("-") - 1))
		var ok: bool = read[id].size() == 50
		for i in read[id].size():
			if read[id][i] != _text(i, c):
				ok = false
		check(ok, "(b) peer %d: its 50 packets in order" % id)
	_teardown(server, clients)


func test_replies_leave_without_another_poll() -> void:
	var ctx := await _setup("(c)", 1)
	if ctx.is_empty():
		return
	var server: WebSocketServer = ctx.server
	var client: WebSocketPeer = ctx.clients[0]
	var handled := [0]
	server.data_received.connect(func(id):
		var p = server.get_peer(id)
		while p.get_available_packet_count() > 0:
			p.put_packet(p.get_packet())
			handled[0] += 1)
	for i in 20:
		client.put_packet(_text(i, 0))
	await wait_seconds(0.3)
	await _poll_until(server, func(): return handled[0] == 20, "(c) 20 messages handled")
	# No server.poll() from here on: the replies must leave by themselves.
	var got := []
	await wait_until(func():
		while client.get_available_packet_count() > 0:
			got.append(client.get_packet())
		return got.size() == 20, "(c) 20 replies at the client with no later server poll()", 3.0)
	check_eq(got.size(), 20, "(c) replies received")
	_teardown(server, [client])


func test_stop_inside_a_handler_ends_the_batch() -> void:
	var ctx := await _setup("(d)", 2)
	if ctx.is_empty():
		return
	var server: WebSocketServer = ctx.server
	var clients: Array = ctx.clients
	var signals := [0]
	server.data_received.connect(func(_id):
		signals[0] += 1
		server.stop())
	for i in 10:
		for c in clients.size():
			clients[c].put_packet(_text(i, c))
	await wait_seconds(0.3)
	await _poll_until(server, func(): return signals[0] > 0 or not server.is_listening(), "(d) a data_received")
	check_eq(signals[0], 1, "(d) data_received signals after stop() in the first handler")
	check(not server.is_listening(), "(d) the server stopped")
	for i in 3:
		server.poll()
	check_eq(signals[0], 1, "(d) data_received signals after more polls")
	check_eq(server.get_peer_ids().size(), 0, "(d) peers after stop()")
	_teardown(server, clients)
