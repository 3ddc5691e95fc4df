extends "res://tests/mp/mp_test_base.gd"
## @rpc between our WebSocketMultiplayerServer (in this process, assigned to the scene
## tree's MultiplayerAPI) and three stock Godot 4 clients in three other Godot processes
## (tests/mp/client_main.gd + tests/mp/game.gd at /root/Game on both sides):
## server -> client (rpc and rpc_id), client -> server (remote sender id), client -> client
## relayed by the server, Variant arguments of several types, a 60,000-byte PackedByteArray,
## get_peers() on both sides, a client quitting, disconnect_peer(), refuse_new_connections and
## the server's close(). Clients report what they observe by RPC; how they ended is their exit code.

const Game := preload("res://tests/mp/game.gd")
const NAMES := ["A", "B", "C"]

var game: Node
## Server-side MultiplayerAPI signals, as [signal, id].
var events: Array = []
## Client name -> unique id (from the clients' "joined" reports).
var ids: Dictionary = {}
var ping_token := 0


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketMultiplayerServer"), "class WebSocketMultiplayerServer is registered (extension loaded)"):
		return
	await scenario()
	reap_children()
	var multiplayer := get_multiplayer()
	multiplayer.multiplayer_peer = null
	if game != null:
		game.free()
		game = null


func scenario() -> void:
	var server := WebSocketMultiplayerServer.new()
	server.bind_ip = "127.0.0.1"
	if not check_eq(server.listen(0), OK, "listen(0)"):
		return
	game = Game.new()
	game.name = "Game"
	root.add_child(game)
	var multiplayer := get_multiplayer()
	multiplayer.multiplayer_peer = server
	check(multiplayer.multiplayer_peer == server, "the server is the MultiplayerAPI's peer")
	check_eq(multiplayer.get_unique_id(), 1, "server unique id")
	multiplayer.peer_connected.connect(func(id): events.append(["connected", id]))
	multiplayer.peer_disconnected.connect(func(id): events.append(["disconnected", id]))
	var port := server.get_local_port()

	# --- three stock clients join ---------------------------------------------------------------
	for client_name in NAMES:
		start_client(port, client_name, "res://tests/mp/game.gd", "Game")
	if not await wait_until(func(): return NAMES.all(func(n): return has_report(n, "joined")),
			"the 3 clients to join and report their id", 20.0):
		return
	for client_name in NAMES:
		var joined: Array = reports_of(client_name, "joined")[0]
		ids[client_name] = joined[0]
		check_eq(joined[1], joined[0], "client %s: get_remote_sender_id() on the server is the id the client has" % client_name)
	var all_ids := sorted(ids.values())
	check(all_ids[0] >= 2 and all_ids[0] != all_ids[1] and all_ids[1] != all_ids[2], "distinct client ids >= 2: %s" % [all_ids])
	await wait_until(func(): return events.size() == 3, "3 peer_connected on the server")
	check_eq(sorted(events.map(func(e): return e[1])), all_ids, "server peer_connected ids")
	check_eq(sorted(multiplayer.get_peers()), all_ids, "multiplayer.get_peers() on the server")

	# --- every client sees the server and the two others ----------------------------------------
	game.command.rpc("report_peers", [])
	if not await wait_until(func(): return NAMES.all(func(n): return has_report(n, "peers")), "peers reports"):
		return
	for client_name in NAMES:
		var expected := sorted([1] + all_ids.filter(func(id): return id != ids[client_name]))
		check_eq(reports_of(client_name, "peers")[0][0], expected, "multiplayer.get_peers() on client %s" % client_name)

	# --- server -> clients: rpc() to all, rpc_id() to one ----------------------------------------
	var to_all := Game.sample_values("server to all")
	var to_b := Game.sample_values("server to B")
	game.typed_args.rpc("all", to_all[0], to_all[1], to_all[2], to_all[3], to_all[4], to_all[5], to_all[6])
	game.typed_args.rpc_id(ids["B"], "only_b", to_b[0], to_b[1], to_b[2], to_b[3], to_b[4], to_b[5], to_b[6])
	if not await ping(NAMES):
		return
	for client_name in NAMES:
		var got := reports_of(client_name, "typed:all")
		if check_eq(got.size(), 1, "client %s got typed_args by rpc() once" % client_name):
			check_eq(var_to_str(got[0][0]), var_to_str(to_all), "client %s: arguments of rpc() (values and types)" % client_name)
			check_eq(got[0][0], to_all, "client %s: arguments of rpc()" % client_name)
	var only_b := reports_of("B", "typed:only_b")
	if check_eq(only_b.size(), 1, "client B got typed_args by rpc_id(B) once"):
		check_eq(var_to_str(only_b[0][0]), var_to_str(to_b), "client B: arguments of rpc_id() (values and types)")
	check(not has_report("A", "typed:only_b") and not has_report("C", "typed:only_b"), "rpc_id(B) reached only B")

	# --- a 60,000-byte PackedByteArray (the stock client's default inbound limit is 65,535) ------
	var rng := RandomNumberGenerator.new()
	rng.seed = 20240601
	var payload := PackedByteArray()
	payload.resize(60000)
	for i in payload.size():
		payload[i] = rng.randi() & 0xff
	game.big.rpc_id(ids["A"], payload)
	if await wait_until(func(): return has_report("A", "big"), "client A to report the 60,000-byte payload", 10.0):
		check_eq(reports_of("A", "big")[0][0], [60000, Game.sha256(payload)], "client A: size and SHA-256 of the 60,000-byte payload")

	# --- clients -> server: rpc_id(1, ...) with get_remote_sender_id() ---------------------------
	game.command.rpc("send_to_server", [])
	if await wait_until(func(): return game.received.size() == 3, "3 to_server() calls"):
		for entry in game.received:
			var from_name: String = entry[1]
			check_eq(entry[0], ids.get(from_name, -1), "to_server() from %s: get_remote_sender_id()" % from_name)
			check_eq(var_to_str(entry[2]), var_to_str(Game.sample_values(from_name)), "to_server() from %s: arguments (values and types)" % from_name)
		check_eq(sorted(game.received.map(func(e): return e[1])), NAMES, "to_server() once from each client")

	# --- client -> client, relayed by the server: A -> B, B -> C, C -> A ---------------------------
	var ring := {"A": "B", "B": "C", "C": "A"}
	for from_name in ring:
		game.command.rpc_id(ids[from_name], "send_to_peer", [ids[ring[from_name]]])
	if await wait_until(func(): return NAMES.all(func(n): return has_report(n, "peer_message")), "relayed peer_message at every client"):
		for from_name in ring:
			var to_name: String = ring[from_name]
			var got: Array = reports_of(to_name, "peer_message")[0][0]
			check_eq(got[0], from_name, "client %s got the message of %s" % [to_name, from_name])
			check_eq(got[1], ids[from_name], "client %s: get_remote_sender_id() of a relayed rpc is the sender %s" % [to_name, from_name])
			check_eq(var_to_str(got[2]), var_to_str(Game.sample_values(from_name)), "client %s: relayed arguments (values and types)" % to_name)
	check_eq(game.misrouted, [], "relayed rpc_id(client) calls were not run on the server")

	# --- a client quits: the server and the other clients see peer_disconnected ------------------
	game.command.rpc_id(ids["C"], "quit", [])
	await wait_until(func(): return events.has(["disconnected", ids["C"]]), "peer_disconnected(C) on the server", 10.0)
	for client_name in ["A", "B"]:
		await wait_until(func(): return values_of(client_name, "peer_disconnected").has(ids["C"]),
			"client %s to see peer_disconnected(C)" % client_name, 10.0)
	await check_exit("C", Client.EXIT_REQUESTED, "asked to quit")
	check_eq(sorted(multiplayer.get_peers()), sorted([ids["A"], ids["B"]]), "get_peers() on the server after C left")

	# --- refuse_new_connections: a 4th client cannot join; A and B keep playing -------------------
	multiplayer.multiplayer_peer.refuse_new_connections = true
	check(server.refuse_new_connections, "refuse_new_connections set through multiplayer.multiplayer_peer")
	start_client(port, "D", "res://tests/mp/game.gd", "Game")
	game.command.rpc_id(ids["A"], "send_to_peer", [ids["B"]])
	await wait_until(func(): return reports_of("B", "peer_message").size() == 2, "A -> B relayed while refusing", 10.0)
	await check_exit("D", Client.EXIT_CONNECTION_FAILED, "refused while refuse_new_connections")
	check(not has_report("D", "joined"), "client D never joined")
	check_eq(events.filter(func(e): return e[0] == "connected").size(), 3, "no peer_connected for client D")
	check_eq(sorted(multiplayer.get_peers()), sorted([ids["A"], ids["B"]]), "get_peers() on the server while refusing")
	if not await ping(["A", "B"]):
		return

	# --- multiplayer.disconnect_peer(B): B sees server_disconnected -------------------------------
	multiplayer.disconnect_peer(ids["B"])
	await check_exit("B", Client.EXIT_SERVER_DISCONNECTED, "after multiplayer.disconnect_peer(B)")
	await wait_until(func(): return not multiplayer.get_peers().has(ids["B"]), "B to leave the server's get_peers()")
	check_eq(multiplayer.get_peers(), PackedInt32Array([ids["A"]]), "get_peers() on the server after disconnect_peer(B)")
	check(not server.has_peer(ids["B"]), "server.has_peer(B) is false after disconnect_peer(B)")
	# SceneMultiplayer.disconnect_peer() tells the other clients at once (A sees B leave) but
	# emits no peer_disconnected on the server itself; our later peer_disconnected must not add one.
	await wait_until(func(): return values_of("A", "peer_disconnected").has(ids["B"]), "client A to see peer_disconnected(B)", 10.0)
	check(not events.has(["disconnected", ids["B"]]), "no peer_disconnected(B) on the server after multiplayer.disconnect_peer(B) (as with any MultiplayerPeer)")
	if not await ping(["A"]):
		return

	# --- the server's close(): the last client sees server_disconnected --------------------------
	multiplayer.multiplayer_peer.close()
	check(not server.is_listening(), "server not listening after multiplayer_peer.close()")
	await check_exit("A", Client.EXIT_SERVER_DISCONNECTED, "after the server's close()")
	check_eq(reports_of("A", "unknown_command") + reports_of("B", "unknown_command"), [], "no unknown commands")


## Every client in `names` answers a ping sent after everything before it (TCP keeps the order).
func ping(names: Array) -> bool:
	ping_token += 1
	var token := ping_token
	game.command.rpc("ping", [token])
	return await wait_until(func(): return names.all(func(n): return reports_of(n, "pong").has([token, ids[n]])),
		"pong %d from %s" % [token, names], 10.0)


## The reports of client `client_name` for `key`, each as [value, remote sender id].
func reports_of(client_name: String, key: String) -> Array:
	var out := []
	for r in game.reports:
		if r[0] == client_name and r[1] == key:
			out.append([r[2], r[3]])
	return out


## The values client `client_name` reported for `key`.
func values_of(client_name: String, key: String) -> Array:
	return reports_of(client_name, key).map(func(r): return r[0])


func has_report(client_name: String, key: String) -> bool:
	return not reports_of(client_name, key).is_empty()


static func sorted(values) -> Array:
	var out := Array(values)
	out.sort()
	return out
