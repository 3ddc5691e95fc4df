extends "res://tests/lib/test_base.gd"
## Admission control in both classes, with Godot's own clients: the `client_handshake` request,
## accept_peer() (the client connects with the announced id), reject_peer() (the client fails,
## no signal names it), an unanswered request timing out, and the errors of misuse.

const ErrorLog = preload("res://tests/lib/error_log.gd")

var error_log := ErrorLog.new()


func run_tests() -> void:
	OS.add_logger(error_log)
	await raw_mode()
	await multiplayer_mode()
	await timeouts()
	OS.remove_logger(error_log)


## The handshakes and connections a server reported, in order.
func record(server: Object, handshakes: Array, connected: Array) -> void:
	server.client_handshake.connect(func(id, request): handshakes.append([id, request]))
	if server is WebSocketServer:
		server.client_connected.connect(func(id, _protocol): connected.append(id))
		server.client_disconnected.connect(func(id, _clean): connected.append(-id))
	else:
		server.peer_connected.connect(func(id): connected.append(id))
		server.peer_disconnected.connect(func(id): connected.append(-id))


## Checks the server's own errors since the last call; returns every error (Godot's client logs
## the refused handshake's HTTP status too).
func expect_errors(count: int, what: String) -> PackedStringArray:
	var all := error_log.take(Logger.ERROR_TYPE_ERROR)
	var ours := Array(all).filter(func(e): return e.begins_with("WebSocketServer.") or e.begins_with("WebSocketMultiplayerServer."))
	check_eq(ours.size(), count, "%s: %s" % [what, ours])
	return all


func has_line(lines: PackedStringArray, part: String) -> bool:
	return Array(lines).any(func(line): return part in line)


func raw_mode() -> void:
	var server := WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	check_eq(server.admission_control, false, "admission_control is off by default")
	server.admission_control = true
	var handshakes := []
	var connected := []
	record(server, handshakes, connected)
	check_eq(server.listen(0, PackedStringArray(["chat"])), OK, "raw listen")
	keep_polled(server)
	var base := "ws://127.0.0.1:%d" % server.get_local_port()

	# Accepted: the request is described, nothing connects before the answer.
	var good := WebSocketPeer.new()
	good.supported_protocols = PackedStringArray(["chat"])
	good.handshake_headers = PackedStringArray(["Authorization: Bearer good"])
	check_eq(good.connect_to_url(base + "/play?token=good&x=1"), OK, "good client connects")
	keep_polled(good)
	await wait_until(func(): return handshakes.size() == 1, "client_handshake for the good client")
	var id: int = handshakes[0][0]
	var request: Dictionary = handshakes[0][1]
	check(id >= 2, "the id is a peer id: %d" % id)
	check_eq(request.get("path"), "/play", "request.path")
	check_eq(request.get("query"), "token=good&x=1", "request.query has no '?'")
	check_eq(request.get("headers", {}).get("authorization"), "Bearer good", "request.headers, lower-case names")
	check_eq(request.get("address"), "127.0.0.1", "request.address")
	check(request.get("port", 0) > 0, "request.port")
	check_eq(request.get("protocols"), PackedStringArray(["chat"]), "request.protocols offered")
	await wait_seconds(0.3)
	check_eq(good.get_ready_state(), WebSocketPeer.STATE_CONNECTING, "no 101 before the answer")
	check_eq(connected, [], "no client_connected before the answer")
	check(not server.has_peer(id), "not a peer before the answer")
	check_eq(server.accept_peer(id), OK, "accept_peer")
	await wait_until(func(): return good.get_ready_state() == WebSocketPeer.STATE_OPEN, "accepted client OPEN")
	await wait_until(func(): return connected == [id], "client_connected with the handshake's id")
	check_eq(good.get_selected_protocol(), "chat", "the negotiated protocol")
	good.send_text("hello")
	await wait_until(func(): return server.has_peer(id) and server.get_peer(id).get_available_packet_count() == 1, "message from the accepted client")
	check_eq(server.get_peer(id).get_packet().get_string_from_utf8(), "hello", "its payload")
	check_eq(server.accept_peer(id), ERR_DOES_NOT_EXIST, "a second accept_peer")
	expect_errors(1, "a second accept_peer reports an error")

	# Rejected: the client fails; misuse is refused first and leaves the request waiting.
	var bad := WebSocketPeer.new()
	bad.supported_protocols = PackedStringArray(["chat"])
	check_eq(bad.connect_to_url(base + "/play?token=bad"), OK, "bad client connects")
	keep_polled(bad)
	await wait_until(func(): return handshakes.size() == 2, "client_handshake for the bad client")
	var bad_id: int = handshakes[1][0]
	check(bad_id != id, "a different id")
	check_eq(server.reject_peer(bad_id, 200), ERR_INVALID_PARAMETER, "status 200 is not a refusal")
	check_eq(server.reject_peer(bad_id, 403, "a\r\nSet-Cookie: x=1"), ERR_INVALID_PARAMETER, "a reason with a line break")
	expect_errors(2, "invalid rejections report errors")
	check_eq(server.reject_peer(bad_id, 401, "bad token"), OK, "reject_peer")
	await wait_until(func(): return bad.get_ready_state() == WebSocketPeer.STATE_CLOSED, "rejected client CLOSED")
	check_eq(server.reject_peer(bad_id), ERR_DOES_NOT_EXIST, "a second reject_peer")
	check_eq(server.accept_peer(bad_id), ERR_DOES_NOT_EXIST, "accept after reject")
	check_eq(server.accept_peer(123456), ERR_DOES_NOT_EXIST, "accept_peer of an unknown id")
	var logged := expect_errors(3, "answers to unknown or answered ids report errors")
	check(has_line(logged, "Got: '401'"), "Godot's client saw the HTTP 401: %s" % [logged])
	# A later accepted client is a barrier: an event of the rejected one would come before it.
	var late := await admitted_raw_client(server, base, handshakes)
	await wait_until(func(): return connected.size() == 2, "the late client's client_connected")
	check(not connected.has(bad_id) and not connected.has(-bad_id), "no signal ever names the rejected client: %s" % [connected])
	check_eq(server.get_peer_ids().size(), 2, "only the accepted clients are peers")
	good.close()
	late.close()
	await wait_until(func(): return connected.size() == 4, "the accepted clients' client_disconnected")
	check_eq(connected, [id, connected[1], -id, -connected[1]] if connected[2] == -id else [id, connected[1], -connected[1], -id], "disconnects of accepted clients only")
	server.stop()


func admitted_raw_client(server: WebSocketServer, base: String, handshakes: Array) -> WebSocketPeer:
	var client := WebSocketPeer.new()
	client.supported_protocols = PackedStringArray(["chat"])
	client.connect_to_url(base + "/")
	keep_polled(client)
	var before := handshakes.size()
	await wait_until(func(): return handshakes.size() == before + 1, "client_handshake of one more client")
	server.accept_peer(handshakes[-1][0])
	await wait_until(func(): return client.get_ready_state() == WebSocketPeer.STATE_OPEN, "one more client OPEN")
	return client


func multiplayer_mode() -> void:
	var server := WebSocketMultiplayerServer.new()
	server.bind_ip = "127.0.0.1"
	server.admission_control = true
	var handshakes := []
	var connected := []
	record(server, handshakes, connected)
	check_eq(server.listen(0), OK, "multiplayer listen")
	keep_polled(server)
	var url := "ws://127.0.0.1:%d/game?token=good" % server.get_local_port()

	var good := WebSocketMultiplayerPeer.new()
	check_eq(good.create_client(url), OK, "multiplayer client")
	keep_polled(good)
	await wait_until(func(): return handshakes.size() == 1, "client_handshake in multiplayer mode")
	var id: int = handshakes[0][0]
	check_eq(handshakes[0][1].get("query"), "token=good", "multiplayer request.query")
	await wait_seconds(0.3)
	check_eq(good.get_connection_status(), MultiplayerPeer.CONNECTION_CONNECTING, "no id announced before the answer")
	check_eq(connected, [], "no peer_connected before the answer")
	check_eq(server.accept_peer(id), OK, "multiplayer accept_peer")
	await wait_until(func(): return good.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED, "accepted stock client CONNECTED")
	check_eq(good.get_unique_id(), id, "the client got the handshake's id")
	await wait_until(func(): return connected == [id], "peer_connected with that id")
	good.set_target_peer(1)
	good.put_packet("ping".to_utf8_buffer())
	await wait_until(func(): return server.get_available_packet_count() == 1, "packet from the accepted client")
	check_eq(server.get_packet_peer(), id, "from its id")
	check_eq(server.get_packet().get_string_from_utf8(), "ping", "its payload")

	var logged: PackedStringArray
	var bad := WebSocketMultiplayerPeer.new()
	check_eq(bad.create_client(url.replace("good", "bad")), OK, "second multiplayer client")
	keep_polled(bad)
	await wait_until(func(): return handshakes.size() == 2, "client_handshake of the bad client")
	var bad_id: int = handshakes[1][0]
	check_eq(server.reject_peer(bad_id, 403, "go away"), OK, "multiplayer reject_peer")
	await wait_until(func(): return bad.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED, "rejected stock client DISCONNECTED")
	check_eq(server.reject_peer(bad_id, 403), ERR_DOES_NOT_EXIST, "a second multiplayer reject_peer")
	logged = expect_errors(1, "the second reject reports an error")
	check(has_line(logged, "Got: '403'"), "the stock multiplayer client saw the HTTP 403: %s" % [logged])
	# Barrier: a third accepted client.
	var third := WebSocketMultiplayerPeer.new()
	third.create_client(url)
	keep_polled(third)
	await wait_until(func(): return handshakes.size() == 3, "client_handshake of the third client")
	server.accept_peer(handshakes[2][0])
	await wait_until(func(): return connected.size() == 2, "the third client's peer_connected")
	check_eq(connected, [id, handshakes[2][0]], "peer_connected only for accepted clients")
	check(not server.has_peer(bad_id), "the rejected client is no peer")
	good.close()
	third.close()
	await wait_until(func(): return connected.size() == 4, "peer_disconnected of the accepted clients")
	check(not connected.has(-bad_id), "no peer_disconnected for the rejected client")
	server.stop()


## Unanswered requests are refused after handshake_timeout, in both classes.
func timeouts() -> void:
	for server in [WebSocketServer.new(), WebSocketMultiplayerServer.new()]:
		var mode := "raw" if server is WebSocketServer else "multiplayer"
		server.bind_ip = "127.0.0.1"
		server.admission_control = true
		server.handshake_timeout = 1.0
		var handshakes := []
		var connected := []
		record(server, handshakes, connected)
		check_eq(server.listen(0), OK, "%s listen with a 1 s handshake_timeout" % mode)
		keep_polled(server)
		var url := "ws://127.0.0.1:%d/" % server.get_local_port()
		var client
		if server is WebSocketServer:
			client = WebSocketPeer.new()
			client.connect_to_url(url)
		else:
			client = WebSocketMultiplayerPeer.new()
			client.create_client(url)
		keep_polled(client)
		await wait_until(func(): return handshakes.size() == 1, "%s client_handshake" % mode)
		var ended := func():
			if client is WebSocketPeer:
				return client.get_ready_state() == WebSocketPeer.STATE_CLOSED
			return client.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED
		await wait_until(ended, "%s unanswered client refused after the timeout" % mode, 15.0)
		# The server forgets the request once the core reports its end.
		await wait_until(func(): return server.accept_peer(handshakes[0][0]) == ERR_DOES_NOT_EXIST, "%s: accept_peer after the timeout fails" % mode)
		check(has_line(error_log.take(Logger.ERROR_TYPE_ERROR), "Got: '503'"), "%s: the client saw an HTTP 503" % mode)
		check_eq(connected, [], "%s: no connected or disconnected signal for a timed-out request" % mode)
		server.stop()
