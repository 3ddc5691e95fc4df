extends "res://tests/lib/test_base.gd"
## WebSocketMultiplayerServer at the MultiplayerPeer level, against Godot 4's own
## WebSocketMultiplayerPeer client: id handshake, addressing, relay targets, refusal, close.

var events: Array = []


func run_tests() -> void:
	var server := WebSocketMultiplayerServer.new()
	server.bind_ip = "127.0.0.1"
	check_eq(server.listen(0), OK, "listen in multiplayer mode")
	keep_polled(server)
	server.peer_connected.connect(func(id): events.append(["connected", id]))
	server.peer_disconnected.connect(func(id): events.append(["disconnected", id]))
	server.peer_packet.connect(func(id): events.append(["packet", id]))
	check_eq(server.get_unique_id(), 1, "server unique id")
	check(server.is_server_relay_supported(), "relay supported")
	check_eq(server.get_connection_status(), MultiplayerPeer.CONNECTION_CONNECTED, "status while listening")
	var url := "ws://127.0.0.1:%d" % server.get_local_port()

	var clients: Array[WebSocketMultiplayerPeer] = []
	for i in 2:
		var client := WebSocketMultiplayerPeer.new()
		check_eq(client.create_client(url), OK, "create_client %d" % i)
		keep_polled(client)
		clients.append(client)
	await wait_until(func(): return clients.all(func(c): return c.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED),
		"stock clients to become CONNECTED (they need the 4-byte id message)")
	var ids := clients.map(func(c): return c.get_unique_id())
	check(ids[0] >= 2 and ids[1] >= 2 and ids[0] != ids[1], "clients got distinct ids >= 2: %s" % [ids])
	await wait_until(func(): return events.filter(func(e): return e[0] == "connected").size() == 2, "peer_connected x2")
	for raw_signal in ["client_connected", "client_disconnected", "data_received"]:
		check(not server.has_signal(raw_signal), "WebSocketMultiplayerServer has no %s signal (peer_connected/peer_disconnected/peer_packet instead)" % raw_signal)
	check_eq(clients[0].get_packet_peer() if clients[0].get_available_packet_count() > 0 else 1, 1, "client sees nothing yet")

	# client -> server: get_packet_peer/channel/mode describe the head packet
	clients[0].set_target_peer(1)
	clients[0].put_packet("from0".to_utf8_buffer())
	await wait_until(func(): return server.get_available_packet_count() == 1, "packet at the server")
	check_eq(server.get_packet_peer(), ids[0], "get_packet_peer() is the sender")
	check_eq(server.get_packet_channel(), 0, "channel 0")
	check_eq(server.get_packet_mode(), MultiplayerPeer.TRANSFER_MODE_RELIABLE, "reliable")
	check_eq(server.get_packet().get_string_from_utf8(), "from0", "payload")
	check_eq(server.get_available_packet_count(), 0, "queue empty after get_packet")
	check_eq(events.filter(func(e): return e[0] == "packet").size(), 1, "one peer_packet signal")

	# server -> one client, all, all but one
	server.set_target_peer(ids[1])
	check_eq(server.put_packet("only1".to_utf8_buffer()), OK, "put_packet to one peer")
	server.set_target_peer(0)
	check_eq(server.put_packet("all".to_utf8_buffer()), OK, "put_packet to all")
	server.set_target_peer(-ids[1])
	check_eq(server.put_packet("not1".to_utf8_buffer()), OK, "put_packet to all but one")
	server.set_target_peer(123456)
	check(server.put_packet("x".to_utf8_buffer()) != OK, "put_packet to an unknown peer fails")
	await wait_until(func(): return clients[0].get_available_packet_count() == 2 and clients[1].get_available_packet_count() == 2, "deliveries")
	check_eq([clients[0].get_packet().get_string_from_utf8(), clients[0].get_packet().get_string_from_utf8()], ["all", "not1"], "client 0 got")
	check_eq([clients[1].get_packet().get_string_from_utf8(), clients[1].get_packet().get_string_from_utf8()], ["only1", "all"], "client 1 got")

	# refuse_new_connections
	server.refuse_new_connections = true
	var refused := WebSocketMultiplayerPeer.new()
	refused.create_client(url)
	keep_polled(refused)
	await wait_until(func(): return refused.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED, "refused client to give up")
	check_eq(server.get_peer_ids().size(), 2, "no third peer while refusing")
	server.refuse_new_connections = false

	# a client leaves -> peer_disconnected; packets it sent first are still delivered first
	clients[1].set_target_peer(1)
	clients[1].put_packet("last words".to_utf8_buffer())
	clients[1].close()
	await wait_until(func(): return server.get_available_packet_count() == 1, "the leaving client's last packet")
	await wait_seconds(0.3)
	check(not events.any(func(e): return e == ["disconnected", ids[1]]),
		"peer_disconnected waits while the peer's packets are unread")
	check_eq(server.get_packet().get_string_from_utf8(), "last words", "last packet still readable")
	await wait_until(func(): return events.any(func(e): return e == ["disconnected", ids[1]]), "peer_disconnected")
	var order := events.filter(func(e): return e[1] == ids[1] and e[0] != "connected")
	check_eq(order, [["packet", ids[1]], ["disconnected", ids[1]]], "packet before disconnect")

	# disconnect_peer (clean) and the server's close()
	server.disconnect_peer(ids[0])
	await wait_until(func(): return events.any(func(e): return e == ["disconnected", ids[0]]), "peer_disconnected after disconnect_peer")
	await wait_until(func(): return clients[0].get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED, "client 0 disconnected")
	server.close()
	check_eq(server.get_connection_status(), MultiplayerPeer.CONNECTION_DISCONNECTED, "status after close()")
