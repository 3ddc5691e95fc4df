extends "res://tests/snippets/mp_branches.gd"
## The client half of the multiplayer example: a WebSocketMultiplayerServer listens at /root/Server
## (its own SceneMultiplayer) on the first port the block names, then the snippet's statements run
## in the node at /root/Client, the root of another branch with its own SceneMultiplayer (so
## `multiplayer` is that branch's API). The snippet's client joins, the server's MultiplayerAPI
## lists it, and an RPC goes client -> server -> client with the right sender ids.

var server_node: Node
var client_node: Node


func drive() -> void:
	if not check(not ports().is_empty(), "the block names the server's port"):
		return
	server_node = Node.new()
	var server_api := add_branch(server_node, "Server")
	var server := WebSocketMultiplayerServer.new()
	server.bind_ip = "127.0.0.1"
	if not check_eq(server.listen(ports()[0]), OK, "the harness's server: listen(%d)" % ports()[0]):
		return
	server_api.multiplayer_peer = server
	client_node = add_snippet(root, "Client")
	if client_node == null:
		return
	var client_api := add_branch(client_node, "Client")
	await run_body(client_node)
	var peer = client_api.multiplayer_peer
	if not check(peer is WebSocketMultiplayerPeer, "the snippet assigned a WebSocketMultiplayerPeer to multiplayer.multiplayer_peer (got %s)" % [peer]):
		return
	if await wait_until(func(): return peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED,
			"the snippet's client to join", 10.0):
		await check_rpc(server_node, client_node)


func teardown() -> void:
	await close_branches()
