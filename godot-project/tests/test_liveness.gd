extends "res://tests/lib/test_base.gd"
## Heartbeat, dead peers and graceful shutdown, in both classes (raw WebSocketServer with Godot's
## WebSocketPeer, WebSocketMultiplayerServer with WebSocketMultiplayerPeer):
## - defaults, and the settings refused while listening or out of range;
## - the pings are on the wire (a raw TCP client upgraded by hand reads them), and a client that
##   goes silent is dropped unclean with a 1001 "idle timeout" close frame;
## - a polled Godot client (which answers pings) stays across several idle timeouts, and one that
##   is no longer polled is reported disconnected with was_clean_close false / peer_disconnected;
## - shutdown(): clients (polled on their own threads, since shutdown() blocks this one) get the
##   code and reason and shutdown() returns long before its timeout; a client that never answers
##   does not hold it past the timeout; no signals; the port is free afterwards.

const RAW_REQUEST := "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
const HEARTBEAT := 0.2
const IDLE := 0.8

## Signals of the server under test: ["connected", id], ["disconnected", id, clean] (clean is
## null in multiplayer mode, whose peer_disconnected has no such argument).
var events: Array = []
## Client threads that have seen their connection open (guarded by `open_mutex`).
var threads_open := 0
var open_mutex := Mutex.new()


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketMultiplayerServer"), "extension loaded"):
		return
	for multiplayer_mode in [false, true]:
		var mode := "multiplayer" if multiplayer_mode else "raw"
		print("=== ", mode)
		await test_settings(multiplayer_mode, mode)
		await test_pings_on_the_wire_and_idle_close(multiplayer_mode, mode)
		await test_polled_client_stays_and_unpolled_one_is_dropped(multiplayer_mode, mode)
		await test_shutdown_all_answer(multiplayer_mode, mode)
		await test_shutdown_silent_client(multiplayer_mode, mode)


# --- helpers -------------------------------------------------------------------------------

func new_server(multiplayer_mode: bool):
	var server = WebSocketMultiplayerServer.new() if multiplayer_mode else WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	return server


## Listens on a free port (or `port`), tracking its signals in `events`, polled every frame.
func start_tracked(multiplayer_mode: bool, heartbeat: float, idle: float, port := 0):
	var server = new_server(multiplayer_mode)
	server.heartbeat_interval = heartbeat
	server.idle_timeout = idle
	check_eq(server.listen(port), OK, "listen(%d)" % port)
	events.clear()
	if multiplayer_mode:
		server.peer_connected.connect(func(id): events.append(["connected", id]))
		server.peer_disconnected.connect(func(id): events.append(["disconnected", id, null]))
	else:
		server.client_connected.connect(func(id, _protocol): events.append(["connected", id]))
		server.client_disconnected.connect(func(id, clean): events.append(["disconnected", id, clean]))
	keep_polled(server)
	return server


func count(kind: String) -> int:
	return events.filter(func(e): return e[0] == kind).size()


## A Godot client of the right kind for the mode, polled every frame, once connected.
func connect_godot_client(multiplayer_mode: bool, port: int, what: String):
	var url := "ws://127.0.0.1:%d" % port
	var client
	if multiplayer_mode:
		client = WebSocketMultiplayerPeer.new()
		check_eq(client.create_client(url), OK, what + ": create_client")
		keep_polled(client)
		await wait_until(func(): return client.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED, what + ": client CONNECTED")
	else:
		client = await connect_client(url)
		check_eq(client.get_ready_state(), WebSocketPeer.STATE_OPEN, what + ": client OPEN")
	return client


func is_client_open(multiplayer_mode: bool, client) -> bool:
	if multiplayer_mode:
		return client.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED
	return client.get_ready_state() == WebSocketPeer.STATE_OPEN


## A raw TCP client that completes the upgrade by hand; returns [tcp, bytes after the 101 head].
func raw_upgrade(port: int, what: String) -> Array:
	var tcp := StreamPeerTCP.new()
	check_eq(tcp.connect_to_host("127.0.0.1", port), OK, what + ": raw connect")
	await wait_until(func():
		tcp.poll()
		return tcp.get_status() != StreamPeerTCP.STATUS_CONNECTING, what + ": raw TCP connects")
	tcp.put_data(RAW_REQUEST.to_ascii_buffer())
	var data := PackedByteArray()
	var deadline := Time.get_ticks_msec() + 5000
	var head_end := -1
	while head_end < 0 and Time.get_ticks_msec() < deadline:
		data.append_array(read_available(tcp))
		head_end = data.get_string_from_ascii().find("\r\n\r\n")
		await process_frame
	if not check(head_end >= 0 and data.get_string_from_ascii().begins_with("HTTP/1.1 101"), what + ": 101 reply"):
		return [tcp, PackedByteArray()]
	return [tcp, data.slice(head_end + 4)]


func read_available(tcp: StreamPeerTCP) -> PackedByteArray:
	tcp.poll()
	var available := tcp.get_available_bytes()
	if available <= 0:
		return PackedByteArray()
	var result: Array = tcp.get_partial_data(available)
	return result[1] if result[0] == OK else PackedByteArray()


## Splits the complete server frames (unmasked, payloads < 126 bytes) off the front of `data`:
## [[[opcode, payload], ...], the bytes left over].
func take_frames(data: PackedByteArray) -> Array:
	var frames := []
	while data.size() >= 2 and data.size() >= 2 + (data[1] & 0x7f):
		var length: int = data[1] & 0x7f
		frames.append([data[0] & 0x0f, data.slice(2, 2 + length)])
		data = data.slice(2 + length)
	return [frames, data]


# --- tests ---------------------------------------------------------------------------------

func test_settings(multiplayer_mode: bool, mode: String) -> void:
	var server = new_server(multiplayer_mode)
	check_eq(server.heartbeat_interval, 25.0, "(%s) heartbeat_interval defaults to 25 s" % mode)
	check_eq(server.idle_timeout, 60.0, "(%s) idle_timeout defaults to 60 s" % mode)
	server.heartbeat_interval = 0.0
	server.idle_timeout = 0.0
	check_eq([server.heartbeat_interval, server.idle_timeout], [0.0, 0.0], "(%s) 0 turns both off" % mode)
	# Logger (to read the errors) exists from Godot 4.5 on; load the helper only there.
	var error_log = load("res://tests/lib/error_log.gd").new() if ClassDB.class_exists("Logger") else null
	if error_log != null:
		OS.add_logger(error_log)
	server.heartbeat_interval = -1.0  # push_error expected
	server.idle_timeout = NAN  # push_error expected
	check_eq([server.heartbeat_interval, server.idle_timeout], [0.0, 0.0], "(%s) invalid values are refused" % mode)
	check_eq(server.listen(0), OK, "(%s) listen" % mode)
	server.heartbeat_interval = 5.0  # push_error expected
	server.idle_timeout = 9.0  # push_error expected
	check_eq([server.heartbeat_interval, server.idle_timeout], [0.0, 0.0], "(%s) changes while listening are refused" % mode)
	server.stop()
	if error_log != null:
		OS.remove_logger(error_log)
		var errors: PackedStringArray = error_log.take(ClassDB.class_get_integer_constant("Logger", "ERROR_TYPE_ERROR"))
		check(errors.size() == 4 and errors[2].contains("heartbeat_interval") and errors[2].contains("while listening")
			and errors[3].contains("idle_timeout"), "(%s) each refusal is reported: %s" % [mode, errors])
	server.heartbeat_interval = 5.0
	check_eq(server.heartbeat_interval, 5.0, "(%s) settable again after stop()" % mode)


## A raw client that never answers: it reads pings every HEARTBEAT, then the 1001 close when the
## server gives up on it, which is reported unclean.
func test_pings_on_the_wire_and_idle_close(multiplayer_mode: bool, mode: String) -> void:
	var server = start_tracked(multiplayer_mode, HEARTBEAT, IDLE)
	var pair := await raw_upgrade(server.get_local_port(), mode)
	var tcp: StreamPeerTCP = pair[0]
	var data: PackedByteArray = pair[1]
	await wait_until(func(): return count("connected") == 1, "(%s) raw client connected" % mode)
	var started := Time.get_ticks_msec()
	var frames := []
	while Time.get_ticks_msec() - started < 8000 and not frames.any(func(f): return f[0] == 0x8):
		data.append_array(read_available(tcp))
		var split := take_frames(data)
		frames.append_array(split[0])
		data = split[1]
		await process_frame
	if multiplayer_mode and check(frames.size() > 0 and frames[0][0] == 0x2, "(mp) first frame is the 4-byte id"):
		frames.pop_front()
	var pings := frames.filter(func(f): return f[0] == 0x9).size()
	check(pings >= 2, "(%s) the silent raw client received pings before it was dropped: %d (frames %s)" % [mode, pings, frames])
	var close: Array = frames.filter(func(f): return f[0] == 0x8)
	if check_eq(close.size(), 1, "(%s) one close frame" % mode):
		var payload: PackedByteArray = close[0][1]
		check_eq((payload[0] << 8) | payload[1], 1001, "(%s) idle close code" % mode)
		check_eq(payload.slice(2).get_string_from_ascii(), "idle timeout", "(%s) idle close reason" % mode)
	await wait_until(func(): return count("disconnected") == 1, "(%s) disconnect signal for the silent raw client" % mode)
	var seconds := (Time.get_ticks_msec() - started) / 1000.0
	check(seconds >= IDLE * 0.9, "(%s) dropped after the idle timeout, not before: %.2f s" % [mode, seconds])
	if not multiplayer_mode and count("disconnected") == 1:
		check_eq(events[-1][2], false, "(raw) client_disconnected(id, false) for a dead peer")
	tcp.disconnect_from_host()
	server.stop()
	disconnect_all(server)
	stop_polling(server)


## Two Godot clients; both answer pings while polled. After several idle timeouts both are still
## there; then one is no longer polled and is dropped, the other stays.
func test_polled_client_stays_and_unpolled_one_is_dropped(multiplayer_mode: bool, mode: String) -> void:
	var server = start_tracked(multiplayer_mode, HEARTBEAT, IDLE)
	var port: int = server.get_local_port()
	var alive = await connect_godot_client(multiplayer_mode, port, "(%s) alive" % mode)
	var dead = await connect_godot_client(multiplayer_mode, port, "(%s) dead" % mode)
	await wait_until(func(): return count("connected") == 2, "(%s) two connected" % mode)
	await wait_seconds(IDLE * 4)
	check_eq(count("disconnected"), 0, "(%s) polled clients stay across four idle timeouts" % mode)
	stop_polling(dead)
	var dead_id: int = events.filter(func(e): return e[0] == "connected")[1][1]
	await wait_until(func(): return count("disconnected") == 1, "(%s) the unpolled client is dropped" % mode, IDLE * 10)
	if count("disconnected") == 1:
		check_eq(events[-1][1], dead_id, "(%s) the dropped peer is the unpolled one" % mode)
		if not multiplayer_mode:
			check_eq(events[-1][2], false, "(raw) was_clean_close is false for a dead peer")
	await wait_seconds(IDLE * 2)
	check_eq(count("disconnected"), 1, "(%s) the polled client is still connected" % mode)
	check(is_client_open(multiplayer_mode, alive), "(%s) the polled client is open" % mode)
	server.stop()
	stop_polling(alive)
	disconnect_all(server)
	stop_polling(server)


## Body of a client thread: connects, polls until the connection is over (or 10 s), returns
## [connected, close code, close reason].
func client_thread(multiplayer_mode: bool, port: int) -> Array:
	var url := "ws://127.0.0.1:%d" % port
	var deadline := Time.get_ticks_msec() + 10000
	var opened := false
	if multiplayer_mode:
		var client := WebSocketMultiplayerPeer.new()
		client.create_client(url)
		var link: WebSocketPeer = null
		while Time.get_ticks_msec() < deadline:
			client.poll()
			if client.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED:
				if not opened:
					note_open()
				opened = true
				if link == null:
					link = client.get_peer(1)
			elif opened:
				break
			OS.delay_msec(2)
		return [opened, link.get_close_code() if link else -2, link.get_close_reason() if link else ""]
	var client := WebSocketPeer.new()
	client.connect_to_url(url)
	while Time.get_ticks_msec() < deadline:
		client.poll()
		var state := client.get_ready_state()
		if state == WebSocketPeer.STATE_OPEN:
			if not opened:
				note_open()
			opened = true
		elif state == WebSocketPeer.STATE_CLOSED:
			break
		OS.delay_msec(2)
	return [opened, client.get_close_code(), client.get_close_reason()]


func note_open() -> void:
	open_mutex.lock()
	threads_open += 1
	open_mutex.unlock()


func count_threads_open() -> int:
	open_mutex.lock()
	var n := threads_open
	open_mutex.unlock()
	return n


func test_shutdown_all_answer(multiplayer_mode: bool, mode: String) -> void:
	var server = start_tracked(multiplayer_mode, 0.0, 0.0)
	var port: int = server.get_local_port()
	var threads: Array[Thread] = []
	threads_open = 0
	for i in 2:
		var thread := Thread.new()
		thread.start(client_thread.bind(multiplayer_mode, port))
		threads.append(thread)
	await wait_until(func(): return count("connected") == 2, "(%s) two threaded clients connected" % mode)
	# The clients must see their connection open before it closes (a multiplayer client that gets
	# its id and the close in one read never reports CONNECTED).
	await wait_until(func(): return count_threads_open() == 2, "(%s) both client threads see the connection open" % mode)
	var timeout := 8.0
	var started := Time.get_ticks_msec()
	var result = server.shutdown(4000, "maintenance", timeout)
	var seconds := (Time.get_ticks_msec() - started) / 1000.0
	print("(%s) shutdown() with two answering clients took %.3f s" % [mode, seconds])
	check_eq(result, OK, "(%s) shutdown() returns OK when every client answered" % mode)
	check(seconds < timeout / 2, "(%s) shutdown() returned once everyone answered, well before its timeout: %.2f s" % [mode, seconds])
	check(not server.is_listening(), "(%s) not listening after shutdown()" % mode)
	check_eq(server.get_peer_ids().size(), 0, "(%s) no peers after shutdown()" % mode)
	for thread in threads:
		var outcome: Array = thread.wait_to_finish()
		check_eq(outcome, [true, 4000, "maintenance"], "(%s) the client got the code and reason" % mode)
	await wait_seconds(0.2)
	check_eq(count("disconnected"), 0, "(%s) shutdown() emits no disconnect signals" % mode)
	check_eq(server.shutdown(), OK, "(%s) shutdown() when not listening does nothing" % mode)
	disconnect_all(server)
	stop_polling(server)


func test_shutdown_silent_client(multiplayer_mode: bool, mode: String) -> void:
	var server = start_tracked(multiplayer_mode, 0.0, 0.0)
	var port: int = server.get_local_port()
	# Polled on this thread, which shutdown() blocks: it cannot answer.
	var silent = await connect_godot_client(multiplayer_mode, port, "(%s) silent" % mode)
	await wait_until(func(): return count("connected") == 1, "(%s) silent client connected" % mode)
	check_eq(server.shutdown(5000, "", 1.0), ERR_INVALID_PARAMETER, "(%s) an invalid close code is refused (push_error expected)" % mode)
	check(server.is_listening(), "(%s) still listening after a refused shutdown()" % mode)
	var timeout := 1.0
	var started := Time.get_ticks_msec()
	var result = server.shutdown(1001, "bye", timeout)
	var seconds := (Time.get_ticks_msec() - started) / 1000.0
	print("(%s) shutdown() with a silent client took %.3f s" % [mode, seconds])
	check_eq(result, ERR_TIMEOUT, "(%s) shutdown() returns ERR_TIMEOUT when a client did not answer" % mode)
	check(seconds >= timeout * 0.9 and seconds < timeout + 4.0, "(%s) shutdown() gives up after its timeout: %.2f s" % [mode, seconds])
	check(not server.is_listening(), "(%s) not listening after shutdown()" % mode)
	await wait_until(func(): return not is_client_open(multiplayer_mode, silent), "(%s) the silent client sees the end" % mode)
	stop_polling(silent)
	check_eq(count("disconnected"), 0, "(%s) no disconnect signals" % mode)
	disconnect_all(server)
	stop_polling(server)
	var again = start_tracked(multiplayer_mode, 0.0, 0.0, port)
	check(again.is_listening(), "(%s) the port is free after shutdown()" % mode)
	again.stop()
	disconnect_all(again)
	stop_polling(again)
