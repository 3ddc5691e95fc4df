extends "res://tests/lib/test_base.gd"
## Clients that vanish while the server is still writing to them must not take Godot down:
## writing to a reset socket raises SIGPIPE, which Godot does not ignore (the process would die
## without a PASS line). The server must report the peers gone and keep serving.

const RAW_REQUEST := "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

var connected: Array = []
var disconnected: Array = []


func run_tests() -> void:
	var server := start_server()
	server.client_connected.connect(func(id, _p): connected.append(id))
	server.client_disconnected.connect(func(id, clean): disconnected.append([id, clean]))
	var port := server.get_local_port()
	var payload := PackedByteArray()
	payload.resize(60000)
	for round in 5:
		var raw := StreamPeerTCP.new()
		raw.connect_to_host("127.0.0.1", port)
		await wait_until(func():
			raw.poll()
			return raw.get_status() == StreamPeerTCP.STATUS_CONNECTED, "raw client connected")
		raw.put_data(RAW_REQUEST.to_ascii_buffer())
		var before := connected.size()
		await wait_until(func(): return connected.size() > before, "client_connected %d" % round)
		var peer: WebSocketServerPeer = server.get_peer(connected[-1])
		# Fill the socket, then vanish with unread data (the kernel answers further writes with a reset).
		for i in 40:
			peer.put_packet(payload)
		await wait_seconds(0.05)
		raw.disconnect_from_host()
		for i in 40:
			if peer.put_packet(payload) != OK:
				break
			await process_frame
		await wait_until(func(): return disconnected.any(func(d): return d[0] == connected[-1]), "client_disconnected %d" % round)
	check_eq(disconnected.size(), 5, "every vanished client reported once")
	check(disconnected.all(func(d): return d[1] == false), "as unclean")
	var client := await connect_client("ws://127.0.0.1:%d" % port)
	check_eq(client.get_ready_state(), WebSocketPeer.STATE_OPEN, "the server still serves new clients")
