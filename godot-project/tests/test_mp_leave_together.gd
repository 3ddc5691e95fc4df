extends "res://tests/lib/test_base.gd"
## Two stock clients (WebSocketMultiplayerPeer, in this process) leave in the same frame while a
## third stays, with our server assigned to the scene tree's MultiplayerAPI: both disconnections
## reach one poll, the server's MultiplayerAPI sees both, and the client that stays is told about
## both (SceneMultiplayer's DEL_PEER relay notices).
## Handling the first, SceneMultiplayer also sends a DEL_PEER notice to the second leaver, whose
## socket is already gone: that send is dropped quietly (its peer_disconnected follows), where the
## engine's own WebSocketMultiplayerPeer server logs an error ("ready_state != STATE_OPEN").

const ErrorLog = preload("res://tests/lib/error_log.gd")

# SceneMultiplayer's peer notices: [NETWORK_COMMAND_SYS (7), SYS_COMMAND_* (AUTH 0, ADD_PEER 1,
# DEL_PEER 2, RELAY 3), id (int32 LE)].
const NETWORK_COMMAND_SYS := 7
const SYS_COMMAND_ADD_PEER := 1
const SYS_COMMAND_DEL_PEER := 2

var events: Array = []
var notices: Array = []
var error_log := ErrorLog.new()


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketMultiplayerServer"), "class WebSocketMultiplayerServer is registered (extension loaded)"):
		return
	OS.add_logger(error_log)
	await scenario()
	OS.remove_logger(error_log)
	check_eq(Array(error_log.take()), [], "no error logged while two peers leave together")
	multiplayer_poll = true
	get_multiplayer().multiplayer_peer = null


func scenario() -> void:
	var server := WebSocketMultiplayerServer.new()
	server.bind_ip = "127.0.0.1"
	if not check_eq(server.listen(0), OK, "listen(0)"):
		return
	var multiplayer := get_multiplayer()
	multiplayer.multiplayer_peer = server
	multiplayer.peer_connected.connect(func(id): events.append(["connected", id]))
	multiplayer.peer_disconnected.connect(func(id): events.append(["disconnected", id]))
	var url := "ws://127.0.0.1:%d" % server.get_local_port()
	var clients: Array[WebSocketMultiplayerPeer] = []
	for i in 3:
		var client := WebSocketMultiplayerPeer.new()
		check_eq(client.create_client(url), OK, "create_client %d" % i)
		keep_polled(client)
		clients.append(client)
	if not await wait_until(func(): return events.size() == 3 and clients.all(func(c): return c.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED),
			"3 peer_connected on the server and 3 CONNECTED clients", 10.0):
		return
	var ids := clients.map(func(c): return c.get_unique_id())
	check_eq(sorted(ids), sorted(events.map(func(e): return e[1])), "client ids match the server's peer_connected ids")

	var stayer := clients[2]
	var added := sorted([[SYS_COMMAND_ADD_PEER, ids[0]], [SYS_COMMAND_ADD_PEER, ids[1]]])
	if not await wait_until(func(): return peer_notices(stayer) == added, "ADD_PEER notices of the two others at the third client"):
		return

	# Both leave while the server is not polled, so their disconnections reach one poll together.
	multiplayer_poll = false
	clients[0].close()
	clients[1].close()
	var peer0: WebSocketServerPeer = server.get_peer(ids[0])
	var peer1: WebSocketServerPeer = server.get_peer(ids[1])
	if not check(peer0 != null and peer1 != null, "get_peer() of both leavers"):
		return
	if not await wait_until(func(): return not peer0.is_connected_to_host() and not peer1.is_connected_to_host(),
			"the network thread to see both clients gone"):
		return
	multiplayer_poll = true
	await wait_until(func(): return events.has(["disconnected", ids[0]]) and events.has(["disconnected", ids[1]]),
		"peer_disconnected for both leavers on the server")
	var removed := sorted([[SYS_COMMAND_DEL_PEER, ids[0]], [SYS_COMMAND_DEL_PEER, ids[1]]])
	await wait_until(func(): return peer_notices(stayer).size() >= 4, "DEL_PEER notices at the client that stays")
	check_eq(peer_notices(stayer), added + removed, "the client that stays is told both joined, then both left")
	check_eq(multiplayer.get_peers(), PackedInt32Array([ids[2]]), "get_peers() on the server")


## The peer notices `client` has received so far, as [SYS_COMMAND_*, id], in order except that
## the ids of each run of the same command are sorted (other packets are dropped).
func peer_notices(client: WebSocketMultiplayerPeer) -> Array:
	while client.get_available_packet_count() > 0:
		var packet := client.get_packet()
		if packet.size() == 6 and packet[0] == NETWORK_COMMAND_SYS:
			notices.append([packet[1], packet.decode_s32(2)])
	var out := []
	var run := []
	for notice in notices:
		if not run.is_empty() and run[0][0] != notice[0]:
			out += sorted(run)
			run = []
		run.append(notice)
	return out + sorted(run)


static func sorted(values: Array) -> Array:
	var out := values.duplicate()
	out.sort()
	return out
