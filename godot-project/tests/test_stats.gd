extends "res://tests/lib/test_base.gd"
## get_stats() in both classes: every field with its exact value after a known sequence of
## connections, messages, closes, a handshake timeout and a refusal. Also prints (does not
## assert) what 10,000 calls cost.

const UPGRADE := "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"


func run_tests() -> void:
	await raw_mode()
	await multiplayer_mode()


func raw_mode() -> void:
	var server := WebSocketServer.new()
	check_eq(server.get_stats()["connections_total"], 0, "zeros before listen()")
	server.bind_ip = "127.0.0.1"
	server.handshake_timeout = 0.5
	check_eq(server.listen(0), OK, "listen")
	keep_polled(server)
	var left := []
	server.client_disconnected.connect(func(id, _clean): left.append(id))
	server.data_received.connect(func(id):
		var peer: WebSocketServerPeer = server.get_peer(id)
		var text := peer.was_string_packet()
		var data := peer.get_packet()
		peer.set_write_mode(WebSocketPeer.WRITE_MODE_TEXT if text else WebSocketPeer.WRITE_MODE_BINARY)
		peer.put_packet(data))
	var url := "ws://127.0.0.1:%d" % server.get_local_port()

	# A: 5 + 3 bytes in, echoed (5 + 3 out).
	var a := await connect_client(url)
	var a_id: int = server.get_peer_ids()[0]
	a.send_text("hello")
	a.send(PackedByteArray([1, 2, 3]))
	await wait_until(func(): return a.get_available_packet_count() == 2, "two echoes")
	var s := server.get_stats()
	check_eq([s["connections"], s["connections_total"], s["messages_in"], s["bytes_in"], s["messages_out"], s["bytes_out"], s["queued_out_bytes"]],
		[1, 1, 2, 8, 2, 8, 0], "connections, connections_total, messages_in, bytes_in, messages_out, bytes_out, queued_out_bytes after two echoes")

	# B: kicked with 4001 (the server's code); A leaves with 4000 (its own).
	var b := await connect_client(url)
	var b_id: int = Array(server.get_peer_ids()).filter(func(id): return id != a_id)[0]
	server.disconnect_peer(b_id, 4001, "kick")
	await wait_until(func(): return left.has(b_id), "B to be disconnected")
	a.close(4000, "bye")
	await wait_until(func(): return left.has(a_id), "A to leave")

	# C: upgrades by hand and drops TCP without a close frame (1006).
	var c := StreamPeerTCP.new()
	c.connect_to_host("127.0.0.1", server.get_local_port())
	await wait_until(func(): c.poll(); return c.get_status() == StreamPeerTCP.STATUS_CONNECTED, "C to connect")
	c.put_data(UPGRADE.to_utf8_buffer())
	await wait_until(func(): return server.get_peer_ids().size() == 1, "C to upgrade")
	var c_id: int = server.get_peer_ids()[0]
	c.disconnect_from_host()
	await wait_until(func(): return left.has(c_id), "C to be gone")
	await wait_until(func(): return server.get_stats()["connections"] == 0, "no connection left")

	# D holds the only slot without a request (refusing E), then its handshake times out.
	server.max_connections = 1
	var d := StreamPeerTCP.new()
	d.connect_to_host("127.0.0.1", server.get_local_port())
	await wait_until(func(): return server.get_stats()["connections"] == 1, "D to hold the slot")
	var e := await connect_client(url)
	check_eq(e.get_ready_state(), WebSocketPeer.STATE_CLOSED, "E is refused")
	await wait_until(func(): return server.get_stats()["handshake_timeouts_total"] == 1, "D's handshake to time out", 10.0)

	var expected := {
		"connections": 0,
		"connections_total": 4,
		"refused_total": 1,
		"handshake_timeouts_total": 1,
		"messages_in": 2,
		"messages_out": 2,
		"bytes_in": 8,
		"bytes_out": 8,
		"queued_out_bytes": 0,
		"closed_by_code": {1006: 1, 4000: 1, 4001: 1},
	}
	check_eq(server.get_stats(), expected, "raw mode: every field")
	measure(server, "WebSocketServer")
	server.stop()
	check_eq(server.get_stats(), expected, "raw mode: the totals stay readable after stop()")
	for client in [a, b, e]:
		stop_polling(client)
	stop_polling(server)
	disconnect_all(server)
	d.disconnect_from_host()


func multiplayer_mode() -> void:
	var server := WebSocketMultiplayerServer.new()
	server.bind_ip = "127.0.0.1"
	check_eq(server.listen(0), OK, "listen in multiplayer mode")
	keep_polled(server)
	var url := "ws://127.0.0.1:%d" % server.get_local_port()
	var clients: Array[WebSocketMultiplayerPeer] = []
	for i in 3:
		var client := WebSocketMultiplayerPeer.new()
		check_eq(client.create_client(url), OK, "create_client")
		keep_polled(client)
		clients.append(client)
	await wait_until(func(): return clients.all(func(c): return c.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED),
		"three multiplayer clients to connect")
	var s := server.get_stats()
	# Each client got its id: one 4-byte message each.
	check_eq([s["messages_out"], s["bytes_out"]], [3, 12], "the id announcements count as messages out")

	clients[0].set_target_peer(1)
	clients[0].put_packet("abcde".to_utf8_buffer())
	await wait_until(func(): return server.get_available_packet_count() == 1, "a packet at the server")
	server.get_packet()
	server.set_target_peer(0)
	server.put_packet("xyz".to_utf8_buffer())
	await wait_until(func(): return clients.all(func(c): return c.get_available_packet_count() == 1), "the broadcast")

	# Client 0 closes: WebSocketMultiplayerPeer.close() frees its connections at once, without a
	# close frame (1006). Client 1 is closed by the server (1000). Client 2 is dropped by force:
	# no disconnection is reported, so it is not counted.
	var ids := clients.map(func(c): return c.get_unique_id())
	clients[0].close()
	await wait_until(func(): return not server.get_peer_ids().has(ids[0]), "client 0 to leave")
	server.disconnect_peer(ids[1])
	await wait_until(func(): return not server.get_peer_ids().has(ids[1]), "client 1 to be closed")
	server.disconnect_peer(ids[2], true)
	await wait_until(func(): return server.get_stats()["connections"] == 0, "no connection left")
	var expected := {
		"connections": 0,
		"connections_total": 3,
		"refused_total": 0,
		"handshake_timeouts_total": 0,
		"messages_in": 1,
		"messages_out": 6,
		"bytes_in": 5,
		"bytes_out": 21,
		"queued_out_bytes": 0,
		"closed_by_code": {1000: 1, 1006: 1},
	}
	check_eq(server.get_stats(), expected, "multiplayer mode: every field")
	measure(server, "WebSocketMultiplayerServer")
	for c in clients:
		stop_polling(c)
	server.close()
	stop_polling(server)


## Printed, not asserted: machine speed varies.
func measure(server, name: String) -> void:
	var start := Time.get_ticks_usec()
	for i in 10000:
		server.get_stats()
	print("%s: 10,000 get_stats() calls took %.1f ms" % [name, (Time.get_ticks_usec() - start) / 1000.0])
