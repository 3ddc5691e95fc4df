extends "res://tests/lib/test_base.gd"
## max_connections and max_connections_per_ip in both classes, against Godot's own clients: the
## N+1th client cannot connect, the first N keep echoing, a freed slot takes a new client. The
## per-address limit uses raw TCP clients bound to 127.0.0.1 and 127.0.0.2 (Linux routes all of
## 127/8 to loopback; WebSocketPeer cannot choose its source address, StreamPeerTCP.bind() can).

const UPGRADE := "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"


func run_tests() -> void:
	await raw_mode()
	await multiplayer_mode()
	await per_address(false)
	await per_address(true)
	bad_values()


func raw_mode() -> void:
	var server := start_server()
	server.data_received.connect(func(id):
		var peer: WebSocketServerPeer = server.get_peer(id)
		peer.put_packet(peer.get_packet()))
	# Set while listening: applies to the connections that follow.
	server.max_connections = 2
	check_eq(server.max_connections, 2, "max_connections reads back")
	var url := "ws://127.0.0.1:%d" % server.get_local_port()
	var first := await connect_client(url)
	var second := await connect_client(url)
	check_eq(first.get_ready_state(), WebSocketPeer.STATE_OPEN, "client 1 connects")
	check_eq(second.get_ready_state(), WebSocketPeer.STATE_OPEN, "client 2 connects")
	var third := await connect_client(url)
	check_eq(third.get_ready_state(), WebSocketPeer.STATE_CLOSED, "client 3 is refused")
	check_eq(server.get_peer_ids().size(), 2, "two peers while one is refused")
	check_eq(server.get_stats()["refused_total"], 1, "the refusal is counted")
	await echo(first, "one")
	await echo(second, "two")

	first.close()
	await wait_until(func(): return server.get_peer_ids().size() == 1, "client 1 to leave")
	var fourth := await connect_client(url)
	check_eq(fourth.get_ready_state(), WebSocketPeer.STATE_OPEN, "a new client takes the freed slot")
	await echo(fourth, "four")
	await echo(second, "two again")
	check_eq(server.get_stats()["connections"], 2, "two connections now")
	for c in [first, second, third, fourth]:
		stop_polling(c)
	server.stop()
	stop_polling(server)
	disconnect_all(server)


func echo(client: WebSocketPeer, text: String) -> void:
	client.send_text(text)
	if await wait_until(func(): return client.get_available_packet_count() > 0, "echo of %s" % text):
		check_eq(client.get_packet().get_string_from_utf8(), text, "echo")


func multiplayer_mode() -> void:
	var server := WebSocketMultiplayerServer.new()
	server.bind_ip = "127.0.0.1"
	# Set before listen().
	server.max_connections = 2
	check_eq(server.listen(0), OK, "listen in multiplayer mode")
	keep_polled(server)
	var url := "ws://127.0.0.1:%d" % server.get_local_port()
	var clients: Array[WebSocketMultiplayerPeer] = []
	for i in 2:
		clients.append(mp_client(url))
	await wait_until(func(): return clients.all(func(c): return c.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED),
		"two multiplayer clients to connect")
	var refused := mp_client(url)
	await wait_until(func(): return refused.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED,
		"the third multiplayer client to give up")
	check_eq(server.get_peer_ids().size(), 2, "no third peer")
	check_eq(server.get_stats()["refused_total"], 1, "the refusal is counted")
	for c in clients:
		await mp_round_trip(server, c)

	clients[0].close()
	await wait_until(func(): return server.get_peer_ids().size() == 1, "client 1 to leave")
	var late := mp_client(url)
	await wait_until(func(): return late.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED,
		"a new multiplayer client to take the freed slot")
	await mp_round_trip(server, late)
	await mp_round_trip(server, clients[1])
	for c in [clients[0], clients[1], refused, late]:
		stop_polling(c)
	server.close()
	stop_polling(server)


func mp_client(url: String) -> WebSocketMultiplayerPeer:
	var client := WebSocketMultiplayerPeer.new()
	check_eq(client.create_client(url), OK, "create_client")
	keep_polled(client)
	return client


## The client sends to the server, the server answers that client.
func mp_round_trip(server: WebSocketMultiplayerServer, client: WebSocketMultiplayerPeer) -> void:
	client.set_target_peer(1)
	client.put_packet("ping".to_utf8_buffer())
	if not await wait_until(func(): return server.get_available_packet_count() > 0, "a packet at the server"):
		return
	var from := server.get_packet_peer()
	check_eq(from, client.get_unique_id(), "sender")
	server.get_packet()
	server.set_target_peer(from)
	server.put_packet("pong".to_utf8_buffer())
	if await wait_until(func(): return client.get_available_packet_count() > 0, "the answer at the client"):
		check_eq(client.get_packet().get_string_from_utf8(), "pong", "answer")


## One connection from 127.0.0.1 is allowed, the second from it gets a bare 503, one from
## 127.0.0.2 is allowed.
func per_address(multiplayer: bool) -> void:
	var server = WebSocketMultiplayerServer.new() if multiplayer else WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	server.max_connections_per_ip = 1
	check_eq(server.listen(0), OK, "listen (multiplayer: %s)" % multiplayer)
	keep_polled(server)
	var port: int = server.get_local_port()
	var mode := "multiplayer" if multiplayer else "raw"
	var a := await raw_request("127.0.0.1", port)
	check(a[1].begins_with("HTTP/1.1 101 "), "%s: first client from 127.0.0.1 upgrades: %s" % [mode, a[1]])
	var b := await raw_request("127.0.0.1", port)
	check(b[1].begins_with("HTTP/1.1 503 Service Unavailable\r\n"), "%s: second client from 127.0.0.1 gets a 503: %s" % [mode, b[1]])
	check(b[1].contains("Connection: close\r\n"), "%s: the 503 says Connection: close" % mode)
	var c := await raw_request("127.0.0.2", port)
	check(c[1].begins_with("HTTP/1.1 101 "), "%s: a client from 127.0.0.2 upgrades: %s" % [mode, c[1]])
	await wait_until(func(): return server.get_peer_ids().size() == 2, "%s: two peers" % mode)
	var addresses := []
	for id in server.get_peer_ids():
		addresses.append(server.get_peer_address(id))
	addresses.sort()
	check_eq(addresses, ["127.0.0.1", "127.0.0.2"], "%s: peer addresses" % mode)
	check_eq(server.get_stats()["refused_total"], 1, "%s: one refusal" % mode)
	for tcp in [a[0], b[0], c[0]]:
		tcp.disconnect_from_host()
	server.stop()
	stop_polling(server)


## Connects from `source` (sending an upgrade request) and returns [the StreamPeerTCP, the reply
## head]. The refused connection's 503 arrives whether or not the request was read.
func raw_request(source: String, port: int) -> Array:
	var tcp := StreamPeerTCP.new()
	check_eq(tcp.bind(0, source), OK, "bind a client socket to %s" % source)
	check_eq(tcp.connect_to_host("127.0.0.1", port), OK, "connect from %s" % source)
	await wait_until(func():
		tcp.poll()
		return tcp.get_status() != StreamPeerTCP.STATUS_CONNECTING, "TCP connect from %s" % source)
	tcp.put_data(UPGRADE.to_utf8_buffer())
	var reply := PackedByteArray()
	await wait_until(func():
		tcp.poll()
		var n := tcp.get_available_bytes()
		if n > 0:
			reply.append_array(tcp.get_data(n)[1])
		return reply.get_string_from_ascii().contains("\r\n\r\n") or tcp.get_status() != StreamPeerTCP.STATUS_CONNECTED,
		"a reply head for %s" % source)
	var text := reply.get_string_from_ascii()
	return [tcp, text.substr(0, text.find("\r\n\r\n") + 4)]


func bad_values() -> void:
	for server in [WebSocketServer.new(), WebSocketMultiplayerServer.new()]:
		server.max_connections = 3
		server.max_connections = -1
		check_eq(server.max_connections, 3, "a negative max_connections is refused")
		server.max_connections_per_ip = -5
		check_eq(server.max_connections_per_ip, 0, "a negative max_connections_per_ip is refused")
