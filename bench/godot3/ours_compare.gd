extends SceneTree
# Godot 3.2.3's own WebSocketServer, the class this repository brings back to Godot 4: the
# reference our server is compared with. Godot 3 syntax. Run with Debian's godot3-server:
#   LANG=en_US.UTF-8 godot3-server --path bench/godot3 --script res://ours_compare.gd -- \
#       --port N [--mode echo|broadcast] [--rate HZ] [--mp] [--paced] [--lifetime S] [--raise-buffers]
#
# Raw mode (default): data_received(id) marks the peer as pending; each frame poll() is followed
# by draining every pending peer with get_available_packet_count()/get_packet()/put_packet()
# (the same loop as bench/godot4/ours_raw.gd). Broadcast: put_packet() on every connected peer.
# --mp: listen(port, PoolStringArray(), true) and the NetworkedMultiplayerPeer loop of
# bench/godot4/ours_mp.gd. NOTE: Godot 3's multiplayer protocol differs from Godot 4's (a header
# on every packet), so Godot 4-protocol clients (wsload --mp) cannot talk to it.
# Buffers: Godot 3's defaults (64 KiB / 1024 packets each way); --raise-buffers:
# set_buffers(1024, 4096, 1024, 4096).
# Godot 3's WebSocketServer cannot report the port it bound: with --port 0 random ports are tried.
#
# Same output as the Godot 4 servers: "LISTENING <port>", then once per second
#   STATS frames=<n> work_us=<total> max_frame_work_us=<max> peers=<n> interval_us=<µs> send_errors=<n> broadcasts=<n>
# Flat out unless --paced: Engine.target_fps = 0, OS.low_processor_usage_mode = false,
# OS.low_processor_usage_mode_sleep_usec = 0. A parse error in 3.2.3 exits with code 0: the
# runner waits for the LISTENING line.

const BUFFER_KB = 1024
const BUFFER_PACKETS = 4096
const BROADCAST_BYTES = 64

var server = WebSocketServer.new()
var echo = true
var mp = false
var raise_buffers = false
var peers = 0
var send_errors = 0

var _rate = 60.0
var _paced = false
var _lifetime_usec = 0
var _running = false
var _broadcasting = false
var _tick_usec = 0
var _next_tick_usec = 0
var _stamp = StreamPeerBuffer.new()
var _msg = PoolByteArray()
var _unix_offset_usec = 0
var _pending = {}
var _peer_ids = {}

var _frames = 0
var _work_us = 0
var _max_work_us = 0
var _broadcasts = 0
var _last_stats_usec = 0
var _started_usec = 0


func _initialize():
	var args = OS.get_cmdline_args()
	var user = []
	var seen = false
	for a in args:
		if seen:
			user.append(a)
		elif a == "--":
			seen = true
	var port = 0
	var mode = "echo"
	var lifetime = 900.0
	var i = 0
	while i < user.size():
		var a = user[i]
		if a == "--paced":
			_paced = true
			i += 1
			continue
		if a == "--mp":
			mp = true
			i += 1
			continue
		if a == "--raise-buffers":
			raise_buffers = true
			i += 1
			continue
		if i + 1 >= user.size():
			_fail(2, "missing value after %s" % a)
			return
		var v = user[i + 1]
		if a == "--port":
			port = int(v)
		elif a == "--mode":
			mode = v
		elif a == "--rate":
			_rate = float(v)
		elif a == "--lifetime":
			lifetime = float(v)
		else:
			_fail(2, "unknown argument %s" % a)
			return
		i += 2
	if mode != "echo" and mode != "broadcast":
		_fail(2, "--mode must be echo or broadcast, got %s" % mode)
		return
	echo = mode == "echo"
	_tick_usec = 0 if _rate <= 0.0 else int(1000000.0 / _rate)
	_lifetime_usec = int(lifetime * 1000000.0)
	if not _paced:
		Engine.target_fps = 0
		OS.low_processor_usage_mode = false
		OS.low_processor_usage_mode_sleep_usec = 0
	_calibrate_clock()
	_stamp.resize(BROADCAST_BYTES)

	server.bind_ip = "127.0.0.1"
	if raise_buffers:
		server.set_buffers(BUFFER_KB, BUFFER_PACKETS, BUFFER_KB, BUFFER_PACKETS)
	if mp:
		server.connect("peer_connected", self, "_on_connected")
		server.connect("peer_disconnected", self, "_on_disconnected")
	else:
		server.connect("client_connected", self, "_on_client_connected")
		server.connect("client_disconnected", self, "_on_client_disconnected")
		server.connect("data_received", self, "_on_data")
	var chosen = port
	var attempts = 1 if port != 0 else 50
	var err = FAILED
	randomize()
	for _k in range(attempts):
		if port == 0:
			chosen = 20000 + randi() % 40000
		err = server.listen(chosen, PoolStringArray(), mp)
		if err == OK:
			break
	if err != OK:
		_fail(3, "listen on port %d failed: %d" % [port, err])
		return
	_started_usec = OS.get_ticks_usec()
	_last_stats_usec = _started_usec
	_running = true
	print("LISTENING %d" % chosen)
	print("INFO engine=%s paced=%s mode=%s rate=%s mp=%s buffers=%s" % [Engine.get_version_info()["string"], _paced, mode, _rate, mp, ("%d/%d" % [BUFFER_KB * 1024, BUFFER_PACKETS]) if raise_buffers else "default"])


# Godot 3 has only millisecond wall-clock time: find a millisecond edge and remember the offset
# from the microsecond monotonic clock (accurate to a few µs).
func _calibrate_clock():
	var ms = OS.get_system_time_msecs()
	while true:
		var now = OS.get_system_time_msecs()
		if now != ms:
			_unix_offset_usec = now * 1000 - OS.get_ticks_usec()
			return


func _idle(_delta):
	if not _running:
		return false
	var t0 = OS.get_ticks_usec()
	if mp:
		_work_mp()
	else:
		_work_raw()
	if _broadcasting and t0 >= _next_tick_usec:
		_stamp.seek(0)
		_stamp.put_64(OS.get_ticks_usec() + _unix_offset_usec)
		_msg = _stamp.data_array
		if mp:
			_broadcast_mp(_msg)
		else:
			_broadcast_raw(_msg)
		_broadcasts += 1
		_next_tick_usec += _tick_usec
		if _next_tick_usec <= t0:
			_next_tick_usec = t0 + _tick_usec
	var t1 = OS.get_ticks_usec()
	var w = t1 - t0
	_frames += 1
	_work_us += w
	if w > _max_work_us:
		_max_work_us = w
	if t1 - _last_stats_usec >= 1000000:
		print("STATS frames=%d work_us=%d max_frame_work_us=%d peers=%d interval_us=%d send_errors=%d broadcasts=%d" % [_frames, _work_us, _max_work_us, peers, t1 - _last_stats_usec, send_errors, _broadcasts])
		_frames = 0
		_work_us = 0
		_max_work_us = 0
		_broadcasts = 0
		send_errors = 0
		_last_stats_usec = t1
		if t1 - _started_usec > _lifetime_usec:
			print("QUIT lifetime over")
			_running = false
			server.stop()
			quit()
	return false


func _work_raw():
	server.poll()
	if _pending.empty():
		return
	for id in _pending:
		if not server.has_peer(id):
			continue
		var peer = server.get_peer(id)
		while peer.get_available_packet_count() > 0:
			var p = peer.get_packet()
			if echo:
				if peer.put_packet(p) != OK:
					send_errors += 1
			else:
				_control(p)
	_pending.clear()


func _work_mp():
	server.poll()
	while server.get_available_packet_count() > 0:
		var from = server.get_packet_peer()
		var p = server.get_packet()
		if echo:
			server.set_target_peer(from)
			if server.put_packet(p) != OK:
				send_errors += 1
		else:
			_control(p)


func _broadcast_raw(m):
	for id in _peer_ids:
		if server.get_peer(id).put_packet(m) != OK:
			send_errors += 1


func _broadcast_mp(m):
	server.set_target_peer(0)
	if server.put_packet(m) != OK:
		send_errors += 1


func _control(p):
	var text = p.get_string_from_utf8()
	if text == "start":
		_broadcasting = true
		_next_tick_usec = OS.get_ticks_usec()
	elif text == "stop":
		_broadcasting = false


func _on_client_connected(id, _protocol):
	server.get_peer(id).set_write_mode(WebSocketPeer.WRITE_MODE_BINARY)
	_peer_ids[id] = true
	peers += 1


func _on_client_disconnected(id, _clean):
	_peer_ids.erase(id)
	peers -= 1


func _on_connected(_id):
	peers += 1


func _on_disconnected(_id):
	peers -= 1


func _on_data(id):
	_pending[id] = true


func _fail(code, why):
	printerr("FATAL: %s" % why)
	print("FATAL: %s" % why)
	_running = false
	quit(code)
