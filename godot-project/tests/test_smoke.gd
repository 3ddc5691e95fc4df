extends "res://tests/lib/test_base.gd"
## The extension loads and a Godot WebSocketPeer can connect and exchange one message.


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketServer"), "class WebSocketServer is registered (extension loaded)"):
		return
	check(ClassDB.class_exists("WebSocketServerPeer"), "class WebSocketServerPeer is registered")
	var server := start_server()
	var port := server.get_local_port()
	check(port > 0, "get_local_port() after listen(0)")
	var connected := []
	server.client_connected.connect(func(id, protocol): connected.append([id, protocol]))
	server.data_received.connect(func(id):
		var peer: WebSocketServerPeer = server.get_peer(id)
		peer.put_packet(peer.get_packet()))
	var client := await connect_client("ws://127.0.0.1:%d" % port)
	check_eq(client.get_ready_state(), WebSocketPeer.STATE_OPEN, "client state")
	await wait_until(func(): return connected.size() == 1, "client_connected")
	client.send_text("hello")
	await wait_until(func(): return client.get_available_packet_count() > 0, "echo")
	check_eq(client.get_packet().get_string_from_utf8(), "hello", "echoed text")
