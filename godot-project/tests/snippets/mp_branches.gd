extends "res://tests/snippets/snippet_harness.gd"
## Base of the multiplayer drivers: server and client in one process, each under its own node at
## /root/<name> with its own SceneMultiplayer (SceneTree.set_multiplayer), each with an Echo child
## (tests/mp/echo.gd) at the same relative path, so an RPC goes from one branch to the other
## through the real WebSocket connection.

const Echo := preload("res://tests/mp/echo.gd")

## Node at the root of each branch -> its SceneMultiplayer.
var branches: Dictionary = {}


## Makes `node` (added under the root as `node_name`) the root of a branch; returns its API.
func add_branch(node: Node, node_name: String) -> SceneMultiplayer:
	if node.get_parent() == null:
		node.name = node_name
		root.add_child(node)
	var api := SceneMultiplayer.new()
	set_multiplayer(api, node.get_path())
	var echo := Echo.new()
	echo.name = "Echo"
	node.add_child(echo)
	branches[node] = api
	return api


## The client pings the server through its Echo node; the server's Echo answers. Checks both ends.
func check_rpc(server_branch: Node, client_branch: Node) -> void:
	var client_api: SceneMultiplayer = branches[client_branch]
	var client_id := client_api.get_unique_id()
	check(client_id > 1, "the client has an id > 1 (got %d)" % client_id)
	if not await wait_until(func(): return branches[server_branch].get_peers().has(client_id),
			"the server's MultiplayerAPI to list the client %d" % client_id):
		return
	var server_echo = server_branch.get_node("Echo")
	var client_echo = client_branch.get_node("Echo")
	client_echo.ping.rpc_id(1, "hello")
	if await wait_until(func(): return not client_echo.pongs.is_empty(), "the server's answer to the client's RPC"):
		check_eq(server_echo.pings, [[client_id, "hello"]], "the RPC the server got, with the client's id")
		check_eq(client_echo.pongs, [[1, "HELLO"]], "the RPC the client got back from peer 1")


## Closes the server's peer, waits for the clients to see it, detaches every branch and frees its
## node.
func close_branches() -> void:
	for node in branches:
		var peer = branches[node].multiplayer_peer
		if peer is WebSocketMultiplayerServer:
			peer.close()
	await wait_until(func(): return branches.values().all(_is_disconnected),
		"every branch's peer to be disconnected after the server's close()")
	for node in branches:
		var api: SceneMultiplayer = branches[node]
		api.multiplayer_peer = null
		set_multiplayer(null, node.get_path())
		node.free()
	branches.clear()


static func _is_disconnected(api: SceneMultiplayer) -> bool:
	return api.multiplayer_peer == null or api.multiplayer_peer.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED
