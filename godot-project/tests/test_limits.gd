extends "res://tests/lib/test_base.gd"
## Per-peer limits seen from a script, against Godot's own WebSocketPeer: a full outbound queue
## makes put_packet() fail (nothing queued, nothing lost), a script that does not read slows the
## client down instead of dropping messages, and the smaller per-peer methods.

const ErrorLog = preload("res://tests/lib/error_log.gd")

var received: Array = []
var connected_ids: Array = []


func run_tests() -> void:
	await test_outbound_full_is_an_error_and_loses_nothing()
	await test_full_queue_is_logged_once_while_it_stays_full()
	await test_unread_inbound_pauses_the_client_and_loses_nothing()
	await test_peer_id_and_no_delay()
	await test_freeing_a_listening_server_frees_its_port()


func test_outbound_full_is_an_error_and_loses_nothing() -> void:
	var server := WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	# 1 MiB and 16 messages outbound per peer.
	check_eq(server.set_buffers(1024, 4096, 1024, 16), OK, "set_buffers before listen")
	check_eq(server.listen(0), OK, "listen")
	keep_polled(server)
	connected_ids.clear()
	server.client_connected.connect(func(id, _p): connected_ids.append(id))
	var client := WebSocketPeer.new()
	client.inbound_buffer_size = 1 << 20
	client.connect_to_url("ws://127.0.0.1:%d" % server.get_local_port())
	keep_polled(client)
	await wait_until(func(): return connected_ids.size() == 1, "client_connected")
	# The client stops reading: the kernel buffers fill, then the server's queue.
	stop_polling(client)
	var peer: WebSocketServerPeer = server.get_peer(connected_ids[0])
	var payload := PackedByteArray()
	payload.resize(64 * 1024)
	var accepted := 0
	var refused := 0
	var deadline := Time.get_ticks_msec() + 10000
	while refused == 0 and Time.get_ticks_msec() < deadline:
		payload.encode_u32(0, accepted)
		var err := peer.put_packet(payload)  # push_error expected once the queue is full
		if err == OK:
			accepted += 1
		else:
			check_eq(err, ERR_OUT_OF_MEMORY, "a full outbound queue returns ERR_OUT_OF_MEMORY")
			refused += 1
		await process_frame
	check(refused == 1, "put_packet() was refused once the outbound queue was full (accepted %d)" % accepted)
	check(peer.get_current_outbound_buffered_amount() > 0,
		"get_current_outbound_buffered_amount() reports the queued bytes (%d)" % peer.get_current_outbound_buffered_amount())
	# The client reads again: every accepted message arrives, in order; the refused one never does.
	keep_polled(client)
	var got: Array = []
	await wait_until(func():
		while client.get_available_packet_count() > 0:
			got.append(client.get_packet().decode_u32(0))
		return got.size() >= accepted, "all %d accepted messages at the client" % accepted, 20.0)
	check_eq(got, range(accepted), "accepted messages arrive in order, none lost")
	await wait_until(func(): return peer.get_current_outbound_buffered_amount() == 0, "outbound queue drained")
	client.close()
	stop_polling(server)
	server.stop()
	disconnect_all(server)


## A script that keeps sending to a client that does not read gets ERR_OUT_OF_MEMORY every time,
## but one error in the log (a flat-out broadcast would otherwise print one per packet); once a
## send is accepted again, the next full queue is reported again. WebSocketServer (raw) and
## WebSocketMultiplayerServer.
func test_full_queue_is_logged_once_while_it_stays_full() -> void:
	for multiplayer_mode in [false, true]:
		var what := "multiplayer mode" if multiplayer_mode else "raw mode"
		# Untyped: a WebSocketMultiplayerServer or a WebSocketServer.
		var server = WebSocketMultiplayerServer.new() if multiplayer_mode else WebSocketServer.new()
		server.bind_ip = "127.0.0.1"
		# 4 messages outbound per peer.
		check_eq(server.set_buffers(1024, 4096, 1024, 4), OK, "set_buffers before listen")
		check_eq(server.listen(0), OK, "listen (%s)" % what)
		keep_polled(server)
		var ids: Array = []
		if multiplayer_mode:
			server.peer_connected.connect(func(id): ids.append(id))
		else:
			server.client_connected.connect(func(id, _p): ids.append(id))
		# Connected at the TCP level but never polled: nothing is read, so the queue fills up.
		var client := WebSocketPeer.new()
		client.connect_to_url("ws://127.0.0.1:%d" % server.get_local_port())
		keep_polled(client)
		await wait_until(func(): return ids.size() == 1, "a client connects (%s)" % what)
		stop_polling(client)
		var send := func(data: PackedByteArray) -> int:
			if multiplayer_mode:
				server.set_target_peer(ids[0])
				return server.put_packet(data)
			return server.get_peer(ids[0]).put_packet(data)
		var payload := PackedByteArray()
		payload.resize(256 * 1024)
		var error_log := ErrorLog.new()
		OS.add_logger(error_log)
		# The kernel's socket buffers take some megabytes first; then the queue fills.
		var codes: Array = []
		while codes.count(ERR_OUT_OF_MEMORY) < 20 and codes.size() < 2000:
			codes.append(send.call(payload))
		var logged := error_log.take(Logger.ERROR_TYPE_ERROR)
		check(codes.count(OK) >= 4 and codes.count(ERR_OUT_OF_MEMORY) == 20 and codes.count(OK) + codes.count(ERR_OUT_OF_MEMORY) == codes.size(),
			"(%s) sends are accepted until the queue is full, then refused: %d accepted, %d refused" % [what, codes.count(OK), codes.count(ERR_OUT_OF_MEMORY)])
		check_eq(logged.size(), 1, "(%s) 20 refusals, one error logged: %s" % [what, logged])
		# The client reads everything: a send is accepted again, and the next full queue is reported.
		keep_polled(client)
		await wait_until(func(): return send.call(PackedByteArray([1])) == OK, "(%s) a send is accepted once the client reads" % what, 10.0)
		stop_polling(client)
		error_log.take()
		var refused_again := false
		for i in 2000:
			if send.call(payload) == ERR_OUT_OF_MEMORY:
				refused_again = true
				break
		check(refused_again, "(%s) the queue fills up again" % what)
		check_eq(error_log.take(Logger.ERROR_TYPE_ERROR).size(), 1, "(%s) the next full queue is reported again" % what)
		OS.remove_logger(error_log)
		client.close()
		stop_polling(server)
		server.stop()
		disconnect_all(server)


func test_unread_inbound_pauses_the_client_and_loses_nothing() -> void:
	var server := WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	# 16 messages inbound per peer: the server stops reading the socket when they are unread.
	check_eq(server.set_buffers(64, 16, 1024, 4096), OK, "set_buffers before listen")
	check_eq(server.listen(0), OK, "listen")
	keep_polled(server)
	connected_ids.clear()
	var signals := [0]
	server.client_connected.connect(func(id, _p): connected_ids.append(id))
	server.data_received.connect(func(_id): signals[0] += 1)
	var client := WebSocketPeer.new()
	client.outbound_buffer_size = 1 << 20
	client.max_queued_packets = 4096
	client.connect_to_url("ws://127.0.0.1:%d" % server.get_local_port())
	keep_polled(client)
	await wait_until(func(): return connected_ids.size() == 1, "client_connected")
	for i in 1000:
		var data := PackedByteArray()
		data.resize(8)
		data.encode_u32(0, i)
		client.put_packet(data)
	# The script does not read: deliveries stop at the inbound limit.
	await wait_until(func(): return signals[0] >= 16, "the first 16 messages")
	await wait_seconds(0.5)
	var peer: WebSocketServerPeer = server.get_peer(connected_ids[0])
	check(peer.get_available_packet_count() <= 32,
		"an unread peer is not read further (%d messages visible, limit 16)" % peer.get_available_packet_count())
	# Reading resumes delivery: all 1,000 arrive, in order.
	var got: Array = []
	await wait_until(func():
		while peer.get_available_packet_count() > 0:
			got.append(peer.get_packet().decode_u32(0))
		return got.size() >= 1000, "all 1,000 messages after reading resumes", 20.0)
	check_eq(got, range(1000), "nothing lost or reordered by the pause")
	check_eq(signals[0], 1000, "one data_received per message")
	client.close()
	stop_polling(server)
	server.stop()
	disconnect_all(server)


func test_peer_id_and_no_delay() -> void:
	var server := start_server()
	connected_ids.clear()
	received.clear()
	server.client_connected.connect(func(id, _p): connected_ids.append(id))
	server.data_received.connect(func(id): received.append([id, server.get_peer(id).get_packet().get_string_from_utf8()]))
	var client := await connect_client("ws://127.0.0.1:%d" % server.get_local_port())
	await wait_until(func(): return connected_ids.size() == 1, "client_connected")
	var peer: WebSocketServerPeer = server.get_peer(connected_ids[0])
	check_eq(peer.get_id(), connected_ids[0], "peer.get_id() is the server's id for it")
	peer.set_no_delay(false)
	client.send_text("nagle on")
	peer.put_packet("a".to_utf8_buffer())
	peer.set_no_delay(true)
	client.send_text("nagle off")
	peer.put_packet("b".to_utf8_buffer())
	await wait_until(func(): return received.size() == 2 and client.get_available_packet_count() == 2, "traffic with no_delay off and on")
	check_eq(received, [[connected_ids[0], "nagle on"], [connected_ids[0], "nagle off"]], "messages with no_delay changed")
	check_eq([client.get_packet().get_string_from_utf8(), client.get_packet().get_string_from_utf8()], ["a", "b"], "server messages with no_delay changed")
	client.close()
	await wait_until(func(): return not server.has_peer(connected_ids[0]), "client gone")
	peer.set_no_delay(true)  # on a departed peer: ignored, no crash
	check(not peer.is_connected_to_host(), "departed peer reports not connected")


func test_freeing_a_listening_server_frees_its_port() -> void:
	var server := WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	check_eq(server.listen(0), OK, "listen")
	var port := server.get_local_port()
	var client := await connect_client("ws://127.0.0.1:%d" % port)
	server.poll()
	# Dropping the last reference stops the network thread and closes every socket.
	server = null
	await wait_until(func(): return client.get_ready_state() == WebSocketPeer.STATE_CLOSED, "client closed when its server was freed")
	var again := WebSocketServer.new()
	again.bind_ip = "127.0.0.1"
	check_eq(again.listen(port), OK, "the port of a freed server can be listened on again")
	again.stop()
