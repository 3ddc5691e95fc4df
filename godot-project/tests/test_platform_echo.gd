extends "res://tests/lib/test_base.gd"
## The one test CI runs on every desktop OS (Linux, Windows, macOS) with the official Godot build
## (scripts/run-one-godot-test.py): the addon's library for this OS loads through the
## .gdextension, and Godot's own WebSocketPeer gets one text and one binary message echoed, then
## closes cleanly. Only Godot 4.3 API, so it also runs on the oldest supported engine.

const GDEXTENSION := "res://addons/websocket_server/websocket_server.gdextension"


func run_tests() -> void:
	print("platform: %s %s, Godot %s" % [OS.get_name(), Engine.get_architecture_name(),
		Engine.get_version_info()["string"]])
	check(GDExtensionManager.is_extension_loaded(GDEXTENSION), "%s is loaded" % GDEXTENSION)
	if not check(ClassDB.class_exists("WebSocketServer"), "class WebSocketServer is registered (extension loaded)"):
		return
	check(ClassDB.class_exists("WebSocketServerPeer"), "class WebSocketServerPeer is registered")

	var server := start_server()
	var port := server.get_local_port()
	if not check(port > 0, "get_local_port() after listen(0) is a port (got %d)" % port):
		return
	var connected := []     # ids
	var disconnected := []  # [id, was_clean_close]
	server.client_connected.connect(func(id, _protocol): connected.append(id))
	server.client_disconnected.connect(func(id, clean): disconnected.append([id, clean]))
	# Echo each message back with the write mode it arrived with.
	server.data_received.connect(func(id):
		var peer: WebSocketServerPeer = server.get_peer(id)
		var data := peer.get_packet()
		peer.set_write_mode(WebSocketPeer.WRITE_MODE_TEXT if peer.was_string_packet()
			else WebSocketPeer.WRITE_MODE_BINARY)
		peer.put_packet(data))

	var client := await connect_client("ws://127.0.0.1:%d" % port)
	if not check_eq(client.get_ready_state(), WebSocketPeer.STATE_OPEN, "client state after connecting"):
		return
	if not await wait_until(func(): return connected.size() == 1, "client_connected"):
		return
	var id: int = connected[0]
	check_eq(server.get_peer_address(id), "127.0.0.1", "get_peer_address()")

	var text := "hello from %s" % OS.get_name()
	client.send_text(text)
	if await wait_until(func(): return client.get_available_packet_count() > 0, "the text echo"):
		var packet := client.get_packet()
		check(client.was_string_packet(), "the text echo arrives as a text message")
		check_eq(packet.get_string_from_utf8(), text, "the text echo")

	var bytes := PackedByteArray()
	for i in 256:
		bytes.append(i)
	client.send(bytes, WebSocketPeer.WRITE_MODE_BINARY)
	if await wait_until(func(): return client.get_available_packet_count() > 0, "the binary echo"):
		var packet := client.get_packet()
		check(not client.was_string_packet(), "the binary echo arrives as a binary message")
		check_eq(packet, bytes, "the binary echo (bytes 0..255)")

	client.close(1000, "bye")
	await wait_until(func(): return disconnected.size() == 1, "client_disconnected after the client's close")
	check_eq(disconnected, [[id, true]], "client_disconnected(id, was_clean_close)")
	await wait_until(func(): return client.get_ready_state() == WebSocketPeer.STATE_CLOSED, "the client to be CLOSED")
	check_eq(client.get_close_code(), 1000, "close code the client sees")
