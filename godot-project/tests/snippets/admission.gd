extends "res://tests/snippets/snippet_harness.gd"
## The driver of the admission control snippet (a `body` of a token check): Godot's WebSocketPeer
## connects with the right token in the query and in an Authorization header (both must open and
## fire client_connected), and with a wrong token (it must fail, and client_connected must not
## fire for it). The refused client's own error about the HTTP status is Godot's: the snippet's
## marker allows it.

## The token the README's example accepts.
const TOKEN := "s3cret"


func drive() -> void:
	var node := add_snippet(root, "Snippet")
	if node == null:
		return
	await run_body(node)
	var server: WebSocketServer = node.server
	if not check(server.is_listening(), "the snippet's server listens"):
		return
	check(server.admission_control, "the snippet turned admission_control on")
	var base := "ws://127.0.0.1:%d" % server.get_local_port()
	var connected := []
	var on_connected := func(id: int, _protocol: String): connected.append(id)
	server.client_connected.connect(on_connected)
	check_eq(await attempt(base + "/?token=" + TOKEN, []), WebSocketPeer.STATE_OPEN, "a client with the token in the query is admitted")
	check_eq(await attempt(base + "/", ["Authorization: Bearer " + TOKEN]), WebSocketPeer.STATE_OPEN, "a client with the token in an Authorization header is admitted")
	check_eq(await attempt(base + "/?token=wrong", []), WebSocketPeer.STATE_CLOSED, "a client with a wrong token is refused")
	# client_connected of an admitted client may follow its OPEN by a frame.
	await wait_until(func(): return connected.size() >= 2, "client_connected for both admitted clients")
	await wait_frames(10)
	check_eq(connected.size(), 2, "client_connected fired for the admitted clients only")
	server.client_connected.disconnect(on_connected)


## Connects with `url` and `headers`; returns the state the client settles in (OPEN or CLOSED).
func attempt(url: String, headers: Array) -> int:
	var client := WebSocketPeer.new()
	client.handshake_headers = PackedStringArray(headers)
	client.connect_to_url(url)
	keep_polled(client)
	await wait_until(func(): return client.get_ready_state() != WebSocketPeer.STATE_CONNECTING, "the client to leave CONNECTING (%s)" % url, 10.0)
	var state := client.get_ready_state()
	client.close()
	await wait_until(func(): return client.get_ready_state() == WebSocketPeer.STATE_CLOSED, "the client to close")
	stop_polling(client)
	return state


func teardown() -> void:
	for node in root.get_children():
		if "server" in node and node.server is WebSocketServer:
			node.server.stop()
