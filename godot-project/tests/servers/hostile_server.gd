extends SceneTree
## The server the hostile-input suite attacks (scripts/run-hostile-tests.sh,
## tests/clients/hostile_client.py): a WebSocketServer ("raw") or a WebSocketMultiplayerServer
## ("mp", driven through the MultiplayerPeer API like a SceneMultiplayer would) that echoes
## every message to its sender.
##   godot --headless --path <project> --script res://tests/servers/hostile_server.gd -- \
##       [--mode raw|mp] [--key FILE --cert FILE] [--handshake-timeout S] [--lifetime S]
##
## Every setting goes through the classes' public properties. A message whose bytes start with
## "ctl:" is a command from the test driver instead of something to echo:
##   ctl:stats           answers one JSON object: get_stats(), the peer count and the flood counters
##   ctl:limits M P      sets max_connections = M and max_connections_per_ip = P, answers "ok"
##   ctl:flood           from now on the server sends this peer 64 KiB messages every frame, as
##                       many as put_packet() accepts (the driver's client never reads them)
##   ctl:quit            quits with exit code 0
## Answers go to the sender as text in raw mode, as a binary packet in multiplayer mode.
##
## Prints "LISTENING <port> PID <pid>" once listening. Quits after --lifetime seconds; exit code
## 2 for bad arguments, 3 when listen() fails.

const FLOOD_CHUNK := 64 * 1024

var server  # WebSocketServer or WebSocketMultiplayerServer
var multiplayer_mode := false
var _deadline_msec := 0
var _quitting := false
## Peer ids the server floods.
var _flooded := {}
var _flood_sent := 0
var _flood_refused := 0
var _echo_refused := 0
var _flood_chunk := PackedByteArray()


func _initialize() -> void:
	OS.low_processor_usage_mode_sleep_usec = 1000
	_flood_chunk.resize(FLOOD_CHUNK)
	_start.call_deferred()


func _process(_delta: float) -> bool:
	if _quitting or server == null:
		return false
	server.poll()
	if multiplayer_mode:
		_read_multiplayer()
	_flood()
	if _deadline_msec > 0 and Time.get_ticks_msec() > _deadline_msec:
		print("hostile_server: lifetime over, quitting")
		_quit(0)
	return false


func _start() -> void:
	var options := {"mode": "raw", "key": "", "cert": "", "handshake-timeout": "3", "lifetime": "300"}
	var args := OS.get_cmdline_user_args()
	var i := 0
	while i < args.size():
		var name := args[i].trim_prefix("--")
		if not args[i].begins_with("--") or not options.has(name) or i + 1 >= args.size():
			printerr("hostile_server: bad arguments %s" % [args])
			_quit(2)
			return
		options[name] = args[i + 1]
		i += 2
	if not options["mode"] in ["raw", "mp"] or not options["handshake-timeout"].is_valid_float() \
			or not options["lifetime"].is_valid_float():
		printerr("hostile_server: bad options %s" % [options])
		_quit(2)
		return
	multiplayer_mode = options["mode"] == "mp"
	server = ClassDB.instantiate("WebSocketMultiplayerServer" if multiplayer_mode else "WebSocketServer")
	if not options["key"].is_empty():
		var key := CryptoKey.new()
		var cert := X509Certificate.new()
		if key.load(options["key"]) != OK or cert.load(options["cert"]) != OK:
			printerr("hostile_server: cannot load %s / %s" % [options["key"], options["cert"]])
			_quit(2)
			return
		server.private_key = key
		server.ssl_certificate = cert
	server.bind_ip = "127.0.0.1"
	server.handshake_timeout = float(options["handshake-timeout"])
	if multiplayer_mode:
		server.peer_connected.connect(func(id): print("hostile_server: connected %d" % id))
		server.peer_disconnected.connect(_on_disconnected)
	else:
		server.client_connected.connect(func(id, _protocol): print("hostile_server: connected %d" % id))
		server.client_disconnected.connect(func(id, _clean): _on_disconnected(id))
		server.data_received.connect(_read_raw)
	var err: Error = server.listen(0)
	if err != OK:
		printerr("hostile_server: listen(0) failed: %s" % error_string(err))
		_quit(3)
		return
	var lifetime := float(options["lifetime"])
	if lifetime > 0:
		_deadline_msec = Time.get_ticks_msec() + int(lifetime * 1000.0)
	print("hostile_server: %s mode, %s, handshake_timeout %s s" % [options["mode"],
		"wss" if server.private_key != null else "ws", options["handshake-timeout"]])
	print("LISTENING %d PID %d" % [server.get_local_port(), OS.get_process_id()])


func _on_disconnected(id: int) -> void:
	_flooded.erase(id)
	print("hostile_server: disconnected %d" % id)


func _read_raw(id: int) -> void:
	if not server.has_peer(id):
		return
	var peer: WebSocketServerPeer = server.get_peer(id)
	while peer.get_available_packet_count() > 0:
		var data := peer.get_packet()
		var text := peer.was_string_packet()
		var answer = _command(id, data)
		if answer != null:
			peer.send_text(answer)
		elif peer.send(data, WebSocketPeer.WRITE_MODE_TEXT if text else WebSocketPeer.WRITE_MODE_BINARY) != OK:
			_echo_refused += 1


func _read_multiplayer() -> void:
	while server.get_available_packet_count() > 0:
		var from: int = server.get_packet_peer()
		var data: PackedByteArray = server.get_packet()
		var answer = _command(from, data)
		server.set_target_peer(from)
		if server.put_packet(answer.to_utf8_buffer() if answer != null else data) != OK:
			_echo_refused += 1


## The answer to a "ctl:" command (a String), or null when `data` is a message to echo.
func _command(id: int, data: PackedByteArray):
	if data.size() < 4 or data.slice(0, 4).get_string_from_ascii() != "ctl:":
		return null
	var words := data.get_string_from_utf8().trim_prefix("ctl:").split(" ", false)
	match words[0] if words.size() > 0 else "":
		"stats":
			var stats: Dictionary = server.get_stats()
			stats["peers"] = _peer_count()
			stats["flood_sent"] = _flood_sent
			stats["flood_refused"] = _flood_refused
			stats["flooded_peers"] = _flooded.size()
			stats["echo_refused"] = _echo_refused
			return JSON.stringify(stats)
		"limits":
			server.max_connections = int(words[1])
			server.max_connections_per_ip = int(words[2])
			return "ok"
		"flood":
			_flooded[id] = true
			return "ok"
		"quit":
			_quit(0)
			return "ok"
	return "unknown command"


func _peer_count() -> int:
	var stats: Dictionary = server.get_stats()
	return stats["connections"]


## Sends every flooded peer as much as its outbound queue takes.
func _flood() -> void:
	for id in _flooded.keys():
		for _i in 64:
			var err: Error
			if multiplayer_mode:
				server.set_target_peer(id)
				err = server.put_packet(_flood_chunk)
			else:
				if not server.has_peer(id):
					break
				err = server.get_peer(id).put_packet(_flood_chunk)
			if err != OK:
				_flood_refused += 1
				break
			_flood_sent += 1


func _quit(code: int) -> void:
	if _quitting:
		return
	_quitting = true
	if server != null:
		server.stop()
	quit(code)
