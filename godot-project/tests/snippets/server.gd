extends "res://tests/snippets/snippet_harness.gd"
## The default driver of `body` snippets: the statements run in a node that provides `server`
## (server_context.gd). When they leave the server listening, Godot's WebSocketPeer connects to it
## (wss:// when the snippet set a key, trusting the server's own certificate for "localhost"), the
## server's client_connected fires with a 127.0.0.1 peer, a text sent with get_peer(id).send_text()
## reaches the client, and a text the client sends makes data_received fire: handled by the
## snippet's own handler when it connected one (after which its expect= patterns can check what the
## handler printed), else read and checked here. A snippet that does not listen only has to run
## clean.


func drive() -> void:
	var node := add_snippet(root, "Snippet")
	if node == null:
		return
	await run_body(node)
	if not node.server.is_listening():
		check(true, "the snippet ran (it does not listen)")
		return
	var tls: TLSOptions = null
	if node.server.private_key != null:
		tls = TLSOptions.client(node.server.ssl_certificate, "localhost")
	await check_round_trip(node.server, tls, "the snippet's server")


func teardown() -> void:
	for node in root.get_children():
		if "server" in node and node.server is WebSocketServer:
			node.server.stop()


## A client connects to `server` (wss:// with `tls`, else ws://) and text goes both ways.
func check_round_trip(server: WebSocketServer, tls: TLSOptions, what: String) -> void:
	if not check(server.is_listening(), what + ": listening"):
		return
	var url := "%s://127.0.0.1:%d" % ["wss" if tls != null else "ws", server.get_local_port()]
	var connected: Array = []
	var received: Array = []  # texts, or null where the snippet's own handler read the message
	# When the snippet connected a data_received handler, it reads the messages, and this one,
	# connected after it, runs after it: it only notes that the signal fired.
	var snippet_reads := not server.data_received.get_connections().is_empty()
	var on_connected := func(id: int, _protocol: String): connected.append(id)
	var on_data := func(id: int):
		received.append(null if snippet_reads else server.get_peer(id).get_packet().get_string_from_utf8())
	server.client_connected.connect(on_connected)
	server.data_received.connect(on_data)
	var client := WebSocketPeer.new()
	check_eq(client.connect_to_url(url, tls), OK, "%s: connect_to_url(%s)" % [what, url])
	keep_polled(client)
	if await wait_until(func(): return client.get_ready_state() == WebSocketPeer.STATE_OPEN and not connected.is_empty(),
			"%s: a client connected to %s and client_connected fired" % [what, url], 10.0):
		var id: int = connected[0]
		check_eq(server.get_peer_address(id), "127.0.0.1", what + ": get_peer_address() of the client")
		check_eq(server.get_peer(id).send_text("from the server"), OK, what + ": send_text() to the client")
		if await wait_until(func(): return client.get_available_packet_count() > 0, what + ": the server's message reaches the client"):
			check_eq(client.get_packet().get_string_from_utf8(), "from the server", what + ": the text the client got")
		check_eq(client.send_text("from the client"), OK, what + ": the client's send_text()")
		if await wait_until(func(): return not received.is_empty(), what + ": data_received for the client's message"):
			if not snippet_reads:
				check_eq(received[0], "from the client", what + ": the text the server got")
		client.close(1000)
		await wait_until(func(): return client.get_ready_state() == WebSocketPeer.STATE_CLOSED, what + ": the client's close completes")
	stop_polling(client)
	# The handlers capture `server`: left connected they would keep it alive (a leak at exit).
	server.client_connected.disconnect(on_connected)
	server.data_received.disconnect(on_data)
