extends "res://tests/lib/test_base.gd"
## Multiplayer mode with a sub-protocol, and assigning the server to a MultiplayerAPI, in one
## process: the server under /root/Server with its own SceneMultiplayer, each stock client
## (WebSocketMultiplayerPeer) under /root/<name> with another (SceneTree.set_multiplayer).
##
## - WebSocketMultiplayerServer.listen(0, ["game-v1"]): a client offering "game-v1" joins and RPCs work both ways; a
##   client offering ["other", "game-v1"] joins too; clients offering "other" or nothing are
##   refused (connection_failed) and the server sees no peer.
## - A server that is not listening cannot be assigned to multiplayer_peer: the engine's own
##   error, and the MultiplayerAPI keeps its peer. Right after listen() it can (id 1, server).

const ErrorLog = preload("res://tests/lib/error_log.gd")

const Echo := preload("res://tests/mp/echo.gd")


var error_log := ErrorLog.new()
## name -> {"api": SceneMultiplayer, "node": Echo node, "events": Array}
var sides: Dictionary = {}


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketMultiplayerServer"), "class WebSocketMultiplayerServer is registered (extension loaded)"):
		return
	OS.add_logger(error_log)
	await scenario()
	OS.remove_logger(error_log)
	for side_name in sides:
		var side: Dictionary = sides[side_name]
		side["api"].multiplayer_peer = null
		set_multiplayer(null, NodePath("/root/" + side_name))
		side["node"].get_parent().free()
	sides.clear()


func scenario() -> void:
	# --- assigning a server that is not listening: the engine refuses it -----------------------
	var server_api := add_side("Server")
	var offline: MultiplayerPeer = server_api.multiplayer_peer
	var server := WebSocketMultiplayerServer.new()
	server.bind_ip = "127.0.0.1"
	check_eq(server.get_connection_status(), MultiplayerPeer.CONNECTION_DISCONNECTED, "status before listen()")
	error_log.take()
	server_api.multiplayer_peer = server
	var errors := error_log.take()
	check(errors.size() == 1 and errors[0].contains("Supplied MultiplayerPeer must be connecting or connected"),
		"assigning a server that is not listening gives the engine's error; got %s" % [errors])
	check(server_api.multiplayer_peer == offline, "the MultiplayerAPI kept its previous peer")
	check(server_api.multiplayer_peer != server, "the server was not assigned")

	# --- right after listen() it can be assigned --------------------------------------------------
	if not check_eq(server.listen(0, PackedStringArray(["game-v1"])), OK, "listen(0, [\"game-v1\"])"):
		return
	server_api.multiplayer_peer = server
	check_eq(error_log.take(), PackedStringArray(), "no error assigning a listening server")
	check(server_api.multiplayer_peer == server, "multiplayer_peer is the server after listen()")
	check_eq(server_api.get_unique_id(), 1, "get_unique_id() through the MultiplayerAPI")
	check(server_api.is_server(), "is_server() through the MultiplayerAPI")
	var url := "ws://127.0.0.1:%d" % server.get_local_port()

	# --- a client offering the server's protocol joins; RPCs work ---------------------------------
	var good := add_client("Good", url, ["game-v1"])
	if not await wait_until(func(): return events_of("Good").has("connected_to_server"), "client offering game-v1 to join", 10.0):
		return
	var good_id: int = good.get_unique_id()
	check(good_id >= 2, "client id >= 2 (got %d)" % good_id)
	await wait_until(func(): return events_of("Server").has(["peer_connected", good_id]), "peer_connected on the server")
	sides["Good"]["node"].ping.rpc_id(1, "hello")
	await wait_until(func(): return not sides["Good"]["node"].pongs.is_empty(), "pong")
	check_eq(sides["Server"]["node"].pings, [[good_id, "hello"]], "the server got ping from the client's id")
	check_eq(sides["Good"]["node"].pongs, [[1, "HELLO"]], "the client got pong from the server")
	check_eq(server.get_peer(good_id).get_selected_protocol(), "game-v1", "negotiated protocol on the server")

	# --- the first offered protocol the server lists wins -----------------------------------------
	var second := add_client("Second", url, ["other", "game-v1"])
	if await wait_until(func(): return events_of("Second").has("connected_to_server"), "client offering [other, game-v1] to join", 10.0):
		# The client may see its id before the server's next poll shows the peer.
		var second_id := second.get_unique_id()
		if await wait_until(func(): return events_of("Server").has(["peer_connected", second_id]), "peer_connected of the second client"):
			check_eq(server.get_peer(second_id).get_selected_protocol(), "game-v1", "negotiated protocol of [other, game-v1]")

	# --- clients offering another protocol, or none, are refused ----------------------------------
	add_client("Other", url, ["other"])
	add_client("None", url, [])
	for side_name in ["Other", "None"]:
		await wait_until(func(): return not events_of(side_name).is_empty(), "client %s to give up" % side_name, 10.0)
		check_eq(events_of(side_name), ["connection_failed"], "client %s: connection_failed only" % side_name)
	check_eq(events_of("Server").filter(func(e): return e[0] == "peer_connected").size(), 2, "the server saw only the two accepted clients")
	check_eq(server_api.get_peers().size(), 2, "get_peers() on the server")
	error_log.take() # the refused stock clients log why

	server_api.multiplayer_peer.close()
	for side_name in ["Good", "Second"]:
		await wait_until(func(): return events_of(side_name).has("server_disconnected"), "client %s: server_disconnected" % side_name)


## A Node at /root/<side_name> with its own SceneMultiplayer, and an Echo child.
func add_side(side_name: String) -> SceneMultiplayer:
	var holder := Node.new()
	holder.name = side_name
	root.add_child(holder)
	var api := SceneMultiplayer.new()
	set_multiplayer(api, NodePath("/root/" + side_name))
	var node := Echo.new()
	node.name = "Echo"
	holder.add_child(node)
	var events: Array = []
	sides[side_name] = {"api": api, "node": node, "events": events}
	api.connected_to_server.connect(func(): events.append("connected_to_server"))
	api.connection_failed.connect(func(): events.append("connection_failed"))
	api.server_disconnected.connect(func(): events.append("server_disconnected"))
	api.peer_connected.connect(func(id): events.append(["peer_connected", id]))
	api.peer_disconnected.connect(func(id): events.append(["peer_disconnected", id]))
	return api


func add_client(side_name: String, url: String, protocols: Array) -> WebSocketMultiplayerPeer:
	var api := add_side(side_name)
	var peer := WebSocketMultiplayerPeer.new()
	peer.supported_protocols = PackedStringArray(protocols)
	check_eq(peer.create_client(url), OK, "create_client() for %s" % side_name)
	api.multiplayer_peer = peer
	return peer


func events_of(side_name: String) -> Array:
	return sides[side_name]["events"]
