extends "res://tests/lib/test_base.gd"
## Panic containment, in both classes (raw WebSocketServer with Godot's WebSocketPeer,
## WebSocketMultiplayerServer with WebSocketMultiplayerPeer), through the test-only hook
## `_inject_fault(site, peer_id)` of the debug library (scripts/build.sh):
## - "connection": the network thread (the server is not polled meanwhile) panics while handling
##   one peer: that peer is reported disconnected (unclean in raw mode) and the panic is reported
##   with push_error; the thread still answers a newcomer's upgrade while unpolled; the other
##   peers keep their echoes;
## - "reactor": a panic in the network loop outside any connection (network thread again):
##   reported, nobody dropped;
## - "poll": the binding's poll() panics on the main thread: reported, poll() returns, the game
##   and the server go on.
## The process survives all of them. (Allows the injected panics' own "[panic" lines: see
## scripts/run-godot-tests.sh, which accepts only panics whose message says "injected fault".)
## allows-injected-panics

const ErrorLog = preload("res://tests/lib/error_log.gd")

var error_log := ErrorLog.new()
## Server-side signals: ["connected", id], ["disconnected", id, clean-or-null].
var events: Array = []


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketMultiplayerServer"), "extension loaded"):
		return
	if not check(ClassDB.class_has_method("WebSocketServer", "_inject_fault"),
			"the library has the test-only _inject_fault() (a debug build from scripts/build.sh)"):
		return
	OS.add_logger(error_log)
	for multiplayer_mode in [false, true]:
		var mode := "multiplayer" if multiplayer_mode else "raw"
		print("=== ", mode)
		await scenario(multiplayer_mode, mode)
	OS.remove_logger(error_log)


func scenario(multiplayer_mode: bool, mode: String) -> void:
	events.clear()
	var server = WebSocketMultiplayerServer.new() if multiplayer_mode else WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	if multiplayer_mode:
		server.peer_connected.connect(func(id): events.append(["connected", id]))
		server.peer_disconnected.connect(func(id): events.append(["disconnected", id, null]))
	else:
		server.client_connected.connect(func(id, _protocol): events.append(["connected", id]))
		server.client_disconnected.connect(func(id, clean): events.append(["disconnected", id, clean]))
		server.data_received.connect(func(id):
			var peer = server.get_peer(id)
			while peer.get_available_packet_count() > 0:
				peer.put_packet(peer.get_packet()))
	check_eq(server.listen(0), OK, mode + ": listen")
	keep_polled(server)
	var port: int = server.get_local_port()
	var echo_mp := func():
		while multiplayer_mode and server.get_available_packet_count() > 0:
			var from: int = server.get_packet_peer()
			var packet: PackedByteArray = server.get_packet()
			server.set_target_peer(from)
			server.put_packet(packet)
	var echo_timer := Timer.new()
	root.add_child(echo_timer)
	echo_timer.wait_time = 0.01
	echo_timer.timeout.connect(echo_mp)
	echo_timer.start()

	var clients: Array = []
	var ids: Array = []
	for i in 3:
		clients.append(await join(multiplayer_mode, port, "%s: client %d" % [mode, i]))
		await wait_until(func(): return count("connected") == i + 1, "%s: server sees client %d" % [mode, i])
		ids.append(events.filter(func(e): return e[0] == "connected")[i][1])
	for i in 3:
		await check_echo(clients[i], multiplayer_mode, "%s: client %d before any fault" % [mode, i])
	error_log.take()

	# --- a panic while handling one connection -------------------------------------------------
	# Not polled meanwhile, so the network thread runs the reactor (it takes over 10 ms after the
	# last poll) and hits the panic; while still unpolled it must answer a newcomer's upgrade.
	var victim: int = ids[1]
	stop_polling(server)
	echo_timer.paused = true
	check_eq(server._inject_fault("connection", victim), OK, mode + ": _inject_fault(connection)")
	await wait_seconds(0.3)
	var unpolled_newcomer = await join(multiplayer_mode, port, mode + ": a client joining while only the network thread runs, after its panic")
	keep_polled(server)
	echo_timer.paused = false
	await wait_until(func(): return count("disconnected") == 1, mode + ": the victim is reported gone")
	var gone: Array = events.filter(func(e): return e[0] == "disconnected")
	check_eq(gone[0][1] if gone.size() > 0 else 0, victim, mode + ": the peer that left is the victim")
	if not multiplayer_mode and gone.size() > 0:
		check_eq(gone[0][2], false, mode + ": its disconnect is unclean")
	await wait_until(func(): return is_closed(clients[1], multiplayer_mode), mode + ": the victim's client sees its connection end")
	await check_reported("internal error while handling peer %d" % victim, mode + ": the panic is reported with push_error")
	for i in [0, 2]:
		await check_echo(clients[i], multiplayer_mode, "%s: client %d after the connection fault" % [mode, i])
	await check_echo(unpolled_newcomer, multiplayer_mode, mode + ": the client that joined after the connection fault")

	# --- a panic in the network loop, outside any connection ---------------------------------
	stop_polling(server)
	echo_timer.paused = true
	check_eq(server._inject_fault("reactor", 0), OK, mode + ": _inject_fault(reactor)")
	await wait_seconds(0.3)
	keep_polled(server)
	echo_timer.paused = false
	await wait_until(func(): return reported("internal error in the network loop"),
		mode + ": the panic in the network loop is reported with push_error")
	for i in [0, 2]:
		await check_echo(clients[i], multiplayer_mode, "%s: client %d after the network-loop fault" % [mode, i])

	# --- a panic in the binding's poll() on the main thread ----------------------------------
	check_eq(server._inject_fault("poll", 0), OK, mode + ": _inject_fault(poll)")
	await wait_until(func(): return reported("poll(): internal error: injected fault in poll()"),
		mode + ": the panic in poll() is reported with push_error")
	for i in [0, 2]:
		await check_echo(clients[i], multiplayer_mode, "%s: client %d after the poll() fault" % [mode, i])

	# --- still open for business ----------------------------------------------------------------
	var newcomer = await join(multiplayer_mode, port, mode + ": a newcomer after all three faults")
	await check_echo(newcomer, multiplayer_mode, mode + ": the newcomer")
	check_eq(count("disconnected"), 1, mode + ": nobody but the victim was dropped")

	echo_timer.stop()
	echo_timer.queue_free()
	for client in clients + [unpolled_newcomer, newcomer]:
		stop_polling(client)
		client.close()
	stop_polling(server)
	server.stop()
	disconnect_all(server)


# --- helpers -------------------------------------------------------------------------------

var _reported_seen: PackedStringArray = []


## Whether an error containing `text` has been pushed (kept across calls, since take() clears).
func reported(text: String) -> bool:
	_reported_seen.append_array(error_log.take(Logger.ERROR_TYPE_ERROR))
	for line in _reported_seen:
		if line.contains(text):
			return true
	return false


func check_reported(text: String, what: String) -> void:
	await wait_until(func(): return reported(text), what)


func count(kind: String) -> int:
	return events.filter(func(e): return e[0] == kind).size()


func join(multiplayer_mode: bool, port: int, what: String):
	var url := "ws://127.0.0.1:%d" % port
	if multiplayer_mode:
		var client := WebSocketMultiplayerPeer.new()
		check_eq(client.create_client(url), OK, what + ": create_client")
		keep_polled(client)
		await wait_until(func(): return client.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED, what + ": CONNECTED")
		return client
	var peer := await connect_client(url)
	check_eq(peer.get_ready_state(), WebSocketPeer.STATE_OPEN, what + ": OPEN")
	return peer


func is_closed(client, multiplayer_mode: bool) -> bool:
	if multiplayer_mode:
		return client.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED
	return client.get_ready_state() == WebSocketPeer.STATE_CLOSED


## Sends a unique packet and waits for it to come back.
func check_echo(client, multiplayer_mode: bool, what: String) -> void:
	var payload := ("echo %d %s" % [randi(), what]).to_utf8_buffer()
	if multiplayer_mode:
		client.set_target_peer(1)
	client.put_packet(payload)
	var got := [false]
	await wait_until(func():
		while client.get_available_packet_count() > 0:
			if client.get_packet() == payload:
				got[0] = true
		return got[0], what + ": echo")
