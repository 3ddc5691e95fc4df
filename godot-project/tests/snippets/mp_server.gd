extends "res://tests/snippets/mp_branches.gd"
## The server half of the multiplayer example: its statements run in the node at /root/Server,
## the root of a branch with its own SceneMultiplayer (so `multiplayer` is that branch's API). Then
## Godot's stock WebSocketMultiplayerPeer joins from /root/Client, the server's MultiplayerAPI
## lists it, and an RPC goes client -> server -> client with the right sender ids. (The snippet's
## peer_connected handler printing is checked with expect=.)

var server_node: Node
var client_node: Node


func drive() -> void:
	server_node = add_snippet(root, "Server")
	if server_node == null:
		return
	var server_api := add_branch(server_node, "Server")
	await run_body(server_node)
	var server = server_api.multiplayer_peer
	if not check(server is WebSocketMultiplayerServer, "the snippet assigned a WebSocketMultiplayerServer to multiplayer.multiplayer_peer (got %s)" % [server]):
		return
	check(server_api.is_server(), "the branch's MultiplayerAPI is the server")
	check(server.is_listening(), "the server listens")
	client_node = Node.new()
	var client_api := add_branch(client_node, "Client")
	var peer := WebSocketMultiplayerPeer.new()
	var url := "ws://127.0.0.1:%d" % server.get_local_port()
	check_eq(peer.create_client(url), OK, "stock client: create_client(%s)" % url)
	client_api.multiplayer_peer = peer
	if await wait_until(func(): return peer.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED,
			"the stock client to join", 10.0):
		await check_rpc(server_node, client_node)


func teardown() -> void:
	await close_branches()
