extends SceneTree
## Where the main-thread time of one raw-mode message goes, between the socket and a GDScript
## handler and back (bench/breakdown.py runs this; see docs/BENCHMARKS.md).
##
## One WebSocketServer (this repository's release library) and one Godot 4 WebSocketPeer client in
## this process, flat out. Each round the client sends BATCH messages of 64 B and waits until the
## kernel holds them; then only the server-side calls are timed, BATCH at a time:
##   poll_read        poll() making BATCH messages readable, data_received not connected
##                    (socket read, frame decode, the event queue, the peer's inbox)
##   poll_signal      the same poll() with data_received connected to an empty handler: minus
##                    poll_read, the signal emission and the Callable dispatch into GDScript
##   get_peer         server.get_peer(id) into a typed variable
##   count            peer.get_available_packet_count()
##   get_packet       peer.get_packet() (the copy into a PackedByteArray)
##   put_packet       peer.put_packet(p) of a 64 B packet (frame encoding, the command queue)
##   poll_write       the poll() after BATCH put_packet() calls: writing the replies
##   g3_handler       the whole Godot 3-style path: poll() with data_received connected to
##                    `var p: PacketPeer = server.get_peer(id)` /
##                    `while p.get_available_packet_count() > 0: p.put_packet(p.get_packet())`,
##                    including the writes
##   gdscript_loop    an empty GDScript `for` iteration (the loop overhead inside the figures above)
## Prints one line "BREAKDOWN {json}" with the median µs per message of each, over ROUNDS rounds.
## User arguments: --rounds N (default 30), --batch N (default 200).

const SIZE := 64

var server: Object
var client := WebSocketPeer.new()
var peer_id := 0
var echoed := 0
var _rounds := 30
var _batch := 200
var _payload := PackedByteArray()


func _initialize() -> void:
	Engine.max_fps = 0
	OS.low_processor_usage_mode = false
	var args := OS.get_cmdline_user_args()
	for i in range(0, args.size() - 1, 2):
		match args[i]:
			"--rounds":
				_rounds = int(args[i + 1])
			"--batch":
				_batch = int(args[i + 1])
	if not ClassDB.class_exists("WebSocketServer"):
		_fail("class WebSocketServer does not exist: the extension was not loaded")
		return
	_payload.resize(SIZE)
	_payload.fill(7)
	server = ClassDB.instantiate("WebSocketServer")
	server.bind_ip = "127.0.0.1"
	server.client_connected.connect(func(id: int, _p: String) -> void: peer_id = id)
	if server.listen(0) != OK:
		_fail("listen failed")
		return
	client.outbound_buffer_size = 1 << 20
	client.inbound_buffer_size = 1 << 20
	client.max_queued_packets = 8192
	client.connect_to_url("ws://127.0.0.1:%d" % server.get_local_port())
	var deadline := Time.get_ticks_msec() + 5000
	while peer_id == 0 or client.get_ready_state() != WebSocketPeer.STATE_OPEN:
		client.poll()
		server.poll()
		OS.delay_usec(200)
		if Time.get_ticks_msec() > deadline:
			_fail("the client did not connect")
			return
	var samples := {}
	for name in ["poll_read", "poll_signal", "get_peer", "count", "get_packet", "put_packet", "poll_write", "g3_handler", "gdscript_loop"]:
		samples[name] = []
	for r in _rounds:
		if not _round(samples):
			return
	var out := {"batch": _batch, "rounds": _rounds, "size": SIZE,
			"engine": Engine.get_version_info()["string"]}
	for name in samples:
		var s: Array = samples[name]
		s.sort()
		out[name] = s[s.size() / 2]
	print("BREAKDOWN " + JSON.stringify(out))
	server.stop()
	quit(0)


## The client sends `_batch` messages; returns once they are in the server's socket.
func _send_batch() -> void:
	for i in _batch:
		client.send(_payload)
	while client.get_current_outbound_buffered_amount() > 0:
		client.poll()
	OS.delay_usec(3000)


## poll() until `_batch` messages are readable (or `expected` replies echoed); µs spent in poll().
func _timed_polls_until(check: Callable) -> int:
	var spent := 0
	var deadline := Time.get_ticks_msec() + 5000
	while not check.call():
		var t0 := Time.get_ticks_usec()
		server.poll()
		spent += Time.get_ticks_usec() - t0
		if Time.get_ticks_msec() > deadline:
			_fail("timed out waiting for the batch")
			return -1
		OS.delay_usec(100)
	return spent


func _readable() -> int:
	return server.get_peer(peer_id).get_available_packet_count()


## Reads the replies the client got (they are not timed).
func _drain_client() -> void:
	var deadline := Time.get_ticks_msec() + 5000
	var got := 0
	while got < _batch and Time.get_ticks_msec() < deadline:
		client.poll()
		while client.get_available_packet_count() > 0:
			client.get_packet()
			got += 1


func _round(samples: Dictionary) -> bool:
	var n := float(_batch)
	var p: PacketPeer = server.get_peer(peer_id)

	# poll_read, then the script-side calls one at a time
	_send_batch()
	var t := _timed_polls_until(func() -> bool: return _readable() >= _batch)
	if t < 0:
		return false
	samples["poll_read"].append(t / n)
	var t0 := Time.get_ticks_usec()
	for i in _batch:
		var q: PacketPeer = server.get_peer(peer_id)
	samples["get_peer"].append((Time.get_ticks_usec() - t0) / n)
	t0 = Time.get_ticks_usec()
	for i in _batch:
		p.get_available_packet_count()
	samples["count"].append((Time.get_ticks_usec() - t0) / n)
	t0 = Time.get_ticks_usec()
	for i in _batch:
		p.get_packet()
	samples["get_packet"].append((Time.get_ticks_usec() - t0) / n)
	t0 = Time.get_ticks_usec()
	for i in _batch:
		p.put_packet(_payload)
	samples["put_packet"].append((Time.get_ticks_usec() - t0) / n)
	t0 = Time.get_ticks_usec()
	for i in _batch:
		pass
	samples["gdscript_loop"].append((Time.get_ticks_usec() - t0) / n)
	t0 = Time.get_ticks_usec()
	server.poll()
	samples["poll_write"].append((Time.get_ticks_usec() - t0) / n)
	_drain_client()

	# poll_signal: an empty handler
	server.data_received.connect(_on_data_empty)
	_send_batch()
	t = _timed_polls_until(func() -> bool: return _readable() >= _batch)
	server.data_received.disconnect(_on_data_empty)
	if t < 0:
		return false
	samples["poll_signal"].append(t / n)
	while p.get_available_packet_count() > 0:
		p.get_packet()

	# g3_handler: the whole Godot 3-style echo
	echoed = 0
	server.data_received.connect(_on_data_g3)
	_send_batch()
	t = _timed_polls_until(func() -> bool: return echoed >= _batch)
	server.data_received.disconnect(_on_data_g3)
	if t < 0:
		return false
	samples["g3_handler"].append(t / n)
	_drain_client()
	return true


func _on_data_empty(_id: int) -> void:
	pass


func _on_data_g3(id: int) -> void:
	var p: PacketPeer = server.get_peer(id)
	while p.get_available_packet_count() > 0:
		p.put_packet(p.get_packet())
		echoed += 1


func _fail(why: String) -> void:
	printerr("FATAL: %s" % why)
	quit(1)
