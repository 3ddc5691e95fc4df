extends "res://tests/lib/test_base.gd"
## Which disconnect_peer() a script reaches. Godot 3's WebSocketServer (a RefCounted) and the
## multiplayer server (a MultiplayerPeer) are two classes, so neither shadows a method of a base
## class and each disconnect_peer() means one thing whatever the variable's static type:
## (1) WebSocketServer.disconnect_peer(id, code, reason), Godot 3's, through a typed and an
##     untyped variable: the client sees the code and reason, client_disconnected(id, true)
##     follows, no client_close_request. disconnect_peer(id, 4000) untyped is a close with code
##     4000 (a MultiplayerPeer would have read it as force = true).
## (2) WebSocketMultiplayerServer has the engine's disconnect_peer(peer, force) only:
##     multiplayer.disconnect_peer(id); disconnect_peer(id) (clean close 1000, then
##     peer_disconnected) and disconnect_peer(id, true) (dropped now, no signal) through a variable
##     typed MultiplayerPeer; get_peer(id).close(code, reason) for a close code.
## (3) WebSocketServer.listen(port, [], true) (Godot 3's multiplayer mode) returns
##     ERR_INVALID_PARAMETER with an error that says what to write instead.
## (4) No method or property our classes register exists in a base class (what gdext warns about
##     as "shadows a method of a base class", and refuses from v0.6 on). scripts/run-godot-tests.sh
##     also fails any test whose output contains that warning.

const OUR_CLASSES := ["WebSocketServer", "WebSocketMultiplayerServer", "WebSocketServerPeer"]

## Signals of the server under test, as [signal, id, ...].
var events: Array = []


func run_tests() -> void:
	for cls in OUR_CLASSES:
		if not check(ClassDB.class_exists(cls), "class %s is registered (extension loaded)" % cls):
			return
	check_no_shadowing()
	await test_godot3_disconnect_peer()
	await test_engine_disconnect_peer()
	test_listen_multiplayer_refused()


func section(name: String) -> void:
	print("--- ", name)


## Waits until `client` is CLOSED; returns [close code, close reason].
func client_close(client: WebSocketPeer, what: String) -> Array:
	await wait_until(func(): return client.get_ready_state() == WebSocketPeer.STATE_CLOSED, what + ": the client to be CLOSED")
	stop_polling(client)
	return [client.get_close_code(), client.get_close_reason()]


## (4) Every method and property our classes register, checked against their base classes.
func check_no_shadowing() -> void:
	section("(4) nothing shadows a base class's method or property")
	for cls in OUR_CLASSES:
		var base := ClassDB.get_parent_class(cls)
		var own_methods := ClassDB.class_get_method_list(cls, true).map(func(m): return m["name"])
		check(not own_methods.is_empty(), "(4) %s registers methods" % cls)
		var shadowing := own_methods.filter(func(m): return ClassDB.class_has_method(base, m))
		check_eq(shadowing, [], "(4) methods of %s that a base class (%s and up) already has" % [cls, base])
		var own_properties := ClassDB.class_get_property_list(cls, true).map(func(p): return p["name"])
		var base_properties := ClassDB.class_get_property_list(base).map(func(p): return p["name"])
		check_eq(own_properties.filter(func(p): return base_properties.has(p)), [],
			"(4) properties of %s that a base class (%s and up) already has" % [cls, base])
	check_eq(String(ClassDB.get_parent_class("WebSocketServer")), "RefCounted", "(4) WebSocketServer extends RefCounted")
	check_eq(String(ClassDB.get_parent_class("WebSocketMultiplayerServer")), "MultiplayerPeerExtension", "(4) WebSocketMultiplayerServer extends MultiplayerPeerExtension")
	# Godot 3's signature on WebSocketServer; the engine's, inherited, on WebSocketMultiplayerServer.
	var godot3: Array = ClassDB.class_get_method_list("WebSocketServer", true).filter(func(m): return m["name"] == "disconnect_peer")
	if check_eq(godot3.size(), 1, "(4) WebSocketServer registers disconnect_peer"):
		check_eq(godot3[0]["args"].map(func(a): return a["name"]), ["id", "code", "reason"], "(4) WebSocketServer.disconnect_peer's arguments")
		check_eq(godot3[0]["default_args"], [1000, ""], "(4) WebSocketServer.disconnect_peer's defaults")
	check(not ClassDB.class_has_method("WebSocketMultiplayerServer", "disconnect_peer", true),
		"(4) WebSocketMultiplayerServer registers no disconnect_peer of its own")
	check(ClassDB.class_has_method("WebSocketMultiplayerServer", "disconnect_peer"),
		"(4) WebSocketMultiplayerServer has MultiplayerPeer.disconnect_peer")


## (1) Godot 3's disconnect_peer(id, code, reason) on WebSocketServer.
func test_godot3_disconnect_peer() -> void:
	section("(1) WebSocketServer.disconnect_peer(id, code, reason)")
	var typed := start_server()
	var untyped = start_server()  # untyped on purpose: the call is resolved by name at run time
	for server in [typed, untyped]:
		server.client_connected.connect(func(id, protocol): events.append(["connected", id, protocol]))
		server.client_close_request.connect(func(id, code, reason): events.append(["close_request", id, code, reason]))
		server.client_disconnected.connect(func(id, clean): events.append(["disconnected", id, clean]))
	# [label, server, call, expected close code, expected reason]
	var cases := [
		["typed disconnect_peer(id, 4001, \"kicked\")", typed, func(id): typed.disconnect_peer(id, 4001, "kicked"), 4001, "kicked"],
		["untyped disconnect_peer(id, 4001, \"kicked\")", untyped, func(id): untyped.disconnect_peer(id, 4001, "kicked"), 4001, "kicked"],
		["untyped disconnect_peer(id, 4000)", untyped, func(id): untyped.disconnect_peer(id, 4000), 4000, ""],
		["typed disconnect_peer(id)", typed, func(id): typed.disconnect_peer(id), 1000, ""],
	]
	for case in cases:
		var label: String = case[0]
		var server = case[1]
		events.clear()
		var client := await connect_client("ws://127.0.0.1:%d" % server.get_local_port())
		if not await wait_until(func(): return events.size() == 1, "(1) %s: client_connected" % label):
			stop_polling(client)
			continue
		var id: int = events[0][1]
		case[2].call(id)
		check(server.has_peer(id), "(1) %s: has_peer(id) until client_disconnected" % label)
		var closed: Array = await client_close(client, "(1) " + label)
		check_eq(closed, [case[3], case[4]], "(1) %s: the client's close code and reason" % label)
		await wait_until(func(): return events.size() >= 2, "(1) %s: client_disconnected" % label)
		await wait_seconds(0.2)  # anything duplicated would show up by now
		check_eq(events, [["connected", id, ""], ["disconnected", id, true]],
			"(1) %s: client_disconnected(id, true) once, no client_close_request" % label)
		check(not server.has_peer(id), "(1) %s: has_peer(id) after client_disconnected" % label)
	typed.stop()
	untyped.stop()


## (2) The engine's disconnect_peer(peer, force) on WebSocketMultiplayerServer.
func test_engine_disconnect_peer() -> void:
	section("(2) WebSocketMultiplayerServer: the engine's disconnect_peer(peer, force)")
	var server := WebSocketMultiplayerServer.new()
	server.bind_ip = "127.0.0.1"
	if not check_eq(server.listen(0), OK, "(2) listen(0)"):
		return
	server.peer_connected.connect(func(id): events.append(["connected", id]))
	server.peer_disconnected.connect(func(id): events.append(["disconnected", id]))
	server.client_close_request.connect(func(id, code, reason): events.append(["close_request", id, code, reason]))
	var as_peer: MultiplayerPeer = server
	var url := "ws://127.0.0.1:%d" % server.get_local_port()

	# (2a) multiplayer.disconnect_peer(id), the server being the MultiplayerAPI's peer (which polls it).
	var api := get_multiplayer()
	api.multiplayer_peer = server
	events.clear()
	var client := await connect_client(url)
	if await wait_until(func(): return api.get_peers().size() == 1, "(2a) the client joins the MultiplayerAPI"):
		var id: int = api.get_peers()[0]
		api.disconnect_peer(id)
		check(not api.get_peers().has(id), "(2a) multiplayer.get_peers() after multiplayer.disconnect_peer(id)")
		check_eq(await client_close(client, "(2a) multiplayer.disconnect_peer(id)"), [1000, ""],
			"(2a) multiplayer.disconnect_peer(id): a clean close (1000) at the client")
		await wait_until(func(): return not server.has_peer(id), "(2a) the peer leaves the server")
		check_eq(events.filter(func(e): return e[0] == "disconnected"), [["disconnected", id]],
			"(2a) the server's own peer_disconnected(id), once")
	stop_polling(client)
	api.multiplayer_peer = null
	keep_polled(server)

	# (2b) disconnect_peer(id) typed MultiplayerPeer: force = false.
	events.clear()
	client = await connect_client(url)
	if await wait_until(func(): return events.size() == 1, "(2b) peer_connected"):
		var id: int = events[0][1]
		as_peer.disconnect_peer(id)
		check(server.has_peer(id), "(2b) has_peer(id) until peer_disconnected")
		check_eq(await client_close(client, "(2b) disconnect_peer(id)"), [1000, ""],
			"(2b) MultiplayerPeer.disconnect_peer(id): a clean close (1000) at the client")
		await wait_until(func(): return events.size() >= 2, "(2b) peer_disconnected")
		await wait_seconds(0.2)
		check_eq(events, [["connected", id], ["disconnected", id]], "(2b) peer_disconnected(id) once after disconnect_peer(id)")
		check(not server.has_peer(id), "(2b) has_peer(id) after peer_disconnected")
	stop_polling(client)

	# (2c) disconnect_peer(id, true) typed MultiplayerPeer: dropped at once, no signal.
	events.clear()
	client = await connect_client(url)
	if await wait_until(func(): return events.size() == 1, "(2c) peer_connected"):
		var id: int = events[0][1]
		as_peer.disconnect_peer(id, true)
		check(not server.has_peer(id), "(2c) has_peer(id) is false right after disconnect_peer(id, true)")
		check(not server.get_peer_ids().has(id), "(2c) get_peer_ids() right after disconnect_peer(id, true)")
		var closed: Array = await client_close(client, "(2c) disconnect_peer(id, true)")
		check_eq(closed[0], -1, "(2c) disconnect_peer(id, true): the connection ends without a close frame (close code -1)")
		await wait_seconds(0.3)
		check_eq(events, [["connected", id]], "(2c) no peer_disconnected after disconnect_peer(id, true)")
	stop_polling(client)

	# (2d) A close code in multiplayer mode: get_peer(id).close(code, reason).
	events.clear()
	client = await connect_client(url)
	if await wait_until(func(): return events.size() == 1, "(2d) peer_connected"):
		var id: int = events[0][1]
		server.get_peer(id).close(4002, "bye")
		check_eq(await client_close(client, "(2d) get_peer(id).close(4002, \"bye\")"), [4002, "bye"],
			"(2d) get_peer(id).close(4002, \"bye\"): the client's close code and reason")
		await wait_until(func(): return events.size() >= 2, "(2d) peer_disconnected")
		check_eq(events, [["connected", id], ["disconnected", id]], "(2d) peer_disconnected(id) once after get_peer(id).close()")
	stop_polling(client)
	stop_polling(server)
	server.stop()
	disconnect_all(server)


## (3) Godot 3's listen(port, protocols, true) on WebSocketServer is refused, and says what to do.
func test_listen_multiplayer_refused() -> void:
	section("(3) WebSocketServer.listen(port, [], true)")
	# Logger (to read the error's text) exists from Godot 4.5 on; load the helper only there.
	var error_log = load("res://tests/lib/error_log.gd").new() if ClassDB.class_exists("Logger") else null
	if error_log != null:
		OS.add_logger(error_log)
	var typed := WebSocketServer.new()
	typed.bind_ip = "127.0.0.1"
	check_eq(typed.listen(0, PackedStringArray(), true), ERR_INVALID_PARAMETER, "(3) typed listen(0, [], true) (push_error expected)")
	check(not typed.is_listening(), "(3) not listening after listen(0, [], true)")
	var untyped = WebSocketServer.new()
	untyped.bind_ip = "127.0.0.1"
	check_eq(untyped.listen(0, [], true), ERR_INVALID_PARAMETER, "(3) untyped listen(0, [], true) (push_error expected)")
	if error_log != null:
		OS.remove_logger(error_log)
		# Logger named through ClassDB: on Godot 4.3 the name would not parse.
		var errors: PackedStringArray = error_log.take(ClassDB.class_get_integer_constant("Logger", "ERROR_TYPE_ERROR"))
		check(errors.size() == 2 and Array(errors).all(func(e): return e.contains("WebSocketMultiplayerServer.new()") and e.contains("multiplayer.multiplayer_peer")),
			"(3) each refusal says what to write instead: %s" % [errors])
	check_eq(typed.listen(0, PackedStringArray(), false), OK, "(3) listen(0, [], false) still works")
	typed.stop()
