extends SceneTree
## A Godot 4 client for the matrix's 1 x 1 round-trip scenarios (bench/run_matrix.py,
## echo_1x1_64_godot_client): the engine's own WebSocketPeer (or, with --mp, its
## WebSocketMultiplayerPeer) in a flat-out frame loop, the way a game polls its connection.
## It keeps one 64-byte message in flight: each frame it polls, takes the echo, and sends the next
## message at once. A round trip is timed from put_packet() to the frame whose poll() makes the
## echo readable, with Time.get_ticks_usec().
##
## Why beside wsload: wsload sleeps in epoll_wait between messages, so its round trip also holds
## the time the kernel takes to wake a sleeping thread on an idle CPU, which on a virtual machine
## can be most of it. A game's client does not sleep between polls.
##
## User arguments (after `--`):
##   --url URL          ws://host:port
##   --size N           message size in bytes (default 64, at least 8)
##   --duration S       measured seconds (default 4)
##   --warmup S         seconds before measuring (default 1)
##   --timeout S        give up connecting after S seconds (default 10)
##   --mp               speak Godot's multiplayer protocol (WebSocketMultiplayerPeer.create_client)
##
## Prints one JSON object as its last line, with wsload echo's field names (msgs_per_sec,
## p10_us ... p999_us, max_us, messages, errors), and exits 0; exit 1 when it could not connect or
## the server stopped answering, 2 for bad arguments.

var _url := ""
var _size := 64
var _duration_usec := 4000000
var _warmup_usec := 1000000
var _timeout_usec := 10000000
var _mp := false

var _peer: PacketPeer  # WebSocketPeer or WebSocketMultiplayerPeer
var _msg := PackedByteArray()
var _started_usec := 0
var _open_usec := 0  # when the connection opened; 0 before
var _sent_usec := 0  # when the message in flight was sent; 0: none in flight
var _rtts := PackedInt32Array()
var _errors := 0
var _done := false


func _initialize() -> void:
	Engine.max_fps = 0
	OS.low_processor_usage_mode = false
	OS.low_processor_usage_mode_sleep_usec = 0
	var args := OS.get_cmdline_user_args()
	var i := 0
	while i < args.size():
		var a := args[i]
		if a == "--mp":
			_mp = true
			i += 1
			continue
		if i + 1 >= args.size():
			_finish(2, "missing value after %s" % a)
			return
		var v := args[i + 1]
		match a:
			"--url":
				_url = v
			"--size":
				_size = int(v)
			"--duration":
				_duration_usec = int(float(v) * 1000000.0)
			"--warmup":
				_warmup_usec = int(float(v) * 1000000.0)
			"--timeout":
				_timeout_usec = int(float(v) * 1000000.0)
			_:
				_finish(2, "unknown argument %s (usage: --url URL [--size N] [--duration S] [--warmup S] [--timeout S] [--mp])" % a)
				return
		i += 2
	if _url == "" or _size < 8 or _duration_usec <= 0:
		_finish(2, "--url is required, --size must be at least 8 and --duration positive")
		return
	_msg.resize(_size)
	_msg.fill(120)
	var err := OK
	if _mp:
		var mp := WebSocketMultiplayerPeer.new()
		err = mp.create_client(_url)
		_peer = mp
	else:
		var ws := WebSocketPeer.new()
		err = ws.connect_to_url(_url)
		_peer = ws
	if err != OK:
		_finish(1, "could not start connecting to %s: %s" % [_url, error_string(err)])
		return
	_started_usec = Time.get_ticks_usec()


func _process(_delta: float) -> bool:
	if _done:
		return false
	var now := Time.get_ticks_usec()
	_poll()
	if _open_usec == 0:
		if _is_open():
			_open_usec = now
			_send()
		elif _is_closed() or now - _started_usec > _timeout_usec:
			_finish(1, "could not connect to %s" % _url)
		return false
	if _is_closed():
		_finish(1, "the server closed the connection")
		return false
	while _peer.get_available_packet_count() > 0:
		var reply := _peer.get_packet()
		var t := Time.get_ticks_usec()
		if _sent_usec == 0 or reply.size() != _size:
			_errors += 1
			continue
		if _sent_usec - _open_usec >= _warmup_usec:
			_rtts.append(t - _sent_usec)
		_sent_usec = 0
	if _sent_usec != 0 and now - _sent_usec > _timeout_usec:
		_finish(1, "no echo within %d s" % (_timeout_usec / 1000000))
		return false
	if now - _open_usec >= _warmup_usec + _duration_usec:
		_report()
		return false
	if _sent_usec == 0:
		_send()
	return false


func _poll() -> void:
	if _mp:
		(_peer as WebSocketMultiplayerPeer).poll()
	else:
		(_peer as WebSocketPeer).poll()


func _is_open() -> bool:
	if _mp:
		var mp := _peer as WebSocketMultiplayerPeer
		return mp.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED
	return (_peer as WebSocketPeer).get_ready_state() == WebSocketPeer.STATE_OPEN


func _is_closed() -> bool:
	if _mp:
		return (_peer as WebSocketMultiplayerPeer).get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED
	return (_peer as WebSocketPeer).get_ready_state() == WebSocketPeer.STATE_CLOSED


## Sends the next message and polls once more so that it leaves in this frame (put_packet only
## queues it; the engine writes in poll()).
func _send() -> void:
	if _mp:
		(_peer as WebSocketMultiplayerPeer).set_target_peer(MultiplayerPeer.TARGET_PEER_SERVER)
	_sent_usec = Time.get_ticks_usec()
	if _peer.put_packet(_msg) != OK:
		_errors += 1
		_sent_usec = 0
		return
	_poll()


func _report() -> void:
	var n := _rtts.size()
	if n == 0:
		_finish(1, "no round trip was measured")
		return
	_rtts.sort()
	var secs := _duration_usec / 1000000.0
	var result := {
		"mode": "echo", "client": "godot4", "engine": Engine.get_version_info()["string"],
		"connections": 1, "in_flight": 1, "size": _size, "mp": _mp, "tls": false,
		"duration_s": secs, "messages": n, "msgs_per_sec": snappedf(n / secs, 0.1),
		"p10_us": _rtts[int(n * 0.10)], "p25_us": _rtts[int(n * 0.25)],
		"p50_us": _rtts[int(n * 0.50)], "p75_us": _rtts[int(n * 0.75)],
		"p90_us": _rtts[int(n * 0.90)], "p99_us": _rtts[min(n - 1, int(n * 0.99))],
		"p999_us": _rtts[min(n - 1, int(n * 0.999))], "max_us": _rtts[n - 1],
		"min_conn_msgs": n, "max_conn_msgs": n, "fairness": 1.0, "connect_failures": 0,
		"errors": _errors,
	}
	_finish(0, JSON.stringify(result))


func _finish(code: int, text: String) -> void:
	_done = true
	if code == 0:
		print(text)
	else:
		printerr("latency_client: %s" % text)
		print("FATAL: %s" % text)
	if _peer is WebSocketPeer:
		(_peer as WebSocketPeer).close()
	elif _peer is WebSocketMultiplayerPeer:
		(_peer as WebSocketMultiplayerPeer).close()
	quit(code)
