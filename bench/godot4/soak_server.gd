extends SceneTree
## The echo server of the soak test (scripts/soak.sh): our WebSocketServer (raw mode) or
## WebSocketMultiplayerServer (multiplayer mode, driven through the MultiplayerPeer API), release
## library, echoing every message to its sender for as long as it runs.
##   godot --headless --path bench/godot4 --script res://soak_server.gd -- \
##       --mode raw|mp [--key FILE --cert FILE] [--lifetime S] [--flat-out]
##
## With --key and --cert (PEM) it serves wss:// only. Godot's default frame pacing is kept unless
## --flat-out (a soak should not hold a CPU at 100 % for its whole length).
## A message that does not fit a peer's outbound queue is kept and sent again on the next frames
## (raw: that peer is not read meanwhile; mp: nothing is read meanwhile), so the script itself
## never drops one: any loss the soak sees is the server's.
##
## Control messages (binary, exact payload) from any client:
##   "SOAK-STATS"  answered (to that client only) with JSON.stringify(get_stats()) as UTF-8
## Prints "LISTENING <port>" once listening, "STATS <json>" every 30 s and at exit, and quits after
## --lifetime seconds (default 3600). Exit codes: 2 bad arguments or unreadable files, 3 listen
## failed, 4 the extension is not loaded.

const STATS_EVERY_MSEC := 30000

var server  # WebSocketServer or WebSocketMultiplayerServer (untyped: parses without the extension)
var _mp := false
var _running := false
var _deadline_msec := 0
var _next_stats_msec := 0
var _stats_request := "SOAK-STATS".to_utf8_buffer()
## raw: peer id -> true for peers that signalled data_received.
var _ready := {}
## raw: peer id -> Array of PackedByteArray not accepted yet by put_packet().
var _pending := {}
## mp: [from, packet] not accepted yet, or [].
var _mp_pending := []
## mp: connected peer ids -> true.
var _mp_peers := {}


func _initialize() -> void:
	var options := {"mode": "raw", "key": "", "cert": "", "lifetime": "3600", "flat-out": false}
	var args := OS.get_cmdline_user_args()
	var i := 0
	while i < args.size():
		var name := args[i].trim_prefix("--")
		if name == "flat-out":
			options[name] = true
			i += 1
			continue
		if not args[i].begins_with("--") or not options.has(name) or i + 1 >= args.size():
			_fail(2, "bad arguments %s (usage: --mode raw|mp [--key FILE --cert FILE] [--lifetime S] [--flat-out])" % [args])
			return
		options[name] = args[i + 1]
		i += 2
	if options["mode"] != "raw" and options["mode"] != "mp":
		_fail(2, "--mode must be raw or mp")
		return
	_mp = options["mode"] == "mp"
	if options["flat-out"]:
		Engine.max_fps = 0
		OS.low_processor_usage_mode = false
		OS.low_processor_usage_mode_sleep_usec = 0
	var cls := "WebSocketMultiplayerServer" if _mp else "WebSocketServer"
	if not ClassDB.class_exists(cls):
		_fail(4, "class %s does not exist: build the release library (scripts/build.sh --release)" % cls)
		return
	server = ClassDB.instantiate(cls)
	server.bind_ip = "127.0.0.1"
	if not options["key"].is_empty():
		var key := CryptoKey.new()
		var cert := X509Certificate.new()
		if key.load(options["key"]) != OK or cert.load(options["cert"]) != OK:
			_fail(2, "cannot load %s / %s" % [options["key"], options["cert"]])
			return
		server.private_key = key
		server.ssl_certificate = cert
	if _mp:
		server.peer_connected.connect(func(id: int) -> void: _mp_peers[id] = true)
		server.peer_disconnected.connect(func(id: int) -> void: _mp_peers.erase(id))
	else:
		server.data_received.connect(func(id: int) -> void: _ready[id] = true)
		server.client_disconnected.connect(func(id: int, _clean: bool) -> void:
			_ready.erase(id)
			_pending.erase(id))
	if server.listen(0) != OK:
		_fail(3, "listen failed")
		return
	_deadline_msec = Time.get_ticks_msec() + int(float(options["lifetime"]) * 1000.0)
	_next_stats_msec = Time.get_ticks_msec() + STATS_EVERY_MSEC
	_running = true
	print("LISTENING %d" % server.get_local_port())
	print("INFO engine=%s class=%s tls=%s flat_out=%s" % [Engine.get_version_info()["string"], cls, not options["key"].is_empty(), options["flat-out"]])


func _process(_delta: float) -> bool:
	if not _running:
		return false
	server.poll()
	if _mp:
		_work_mp()
	else:
		_work_raw()
	var now := Time.get_ticks_msec()
	if now >= _next_stats_msec:
		_next_stats_msec = now + STATS_EVERY_MSEC
		print("STATS %s" % JSON.stringify(server.get_stats()))
	if now >= _deadline_msec:
		print("STATS %s" % JSON.stringify(server.get_stats()))
		print("QUIT lifetime over")
		_running = false
		quit(0)
	return false


func _work_raw() -> void:
	for id in _pending.keys():
		if not server.has_peer(id):
			_pending.erase(id)
			continue
		var peer: PacketPeer = server.get_peer(id)
		var queue: Array = _pending[id]
		while not queue.is_empty() and peer.put_packet(queue[0]) == OK:
			queue.pop_front()
		if queue.is_empty():
			_pending.erase(id)
			_ready[id] = true  # read what waited meanwhile
	var ids := _ready.keys()
	_ready.clear()
	for id in ids:
		if _pending.has(id) or not server.has_peer(id):
			continue
		var peer: PacketPeer = server.get_peer(id)
		while peer.get_available_packet_count() > 0:
			var p := peer.get_packet()
			if p == _stats_request:
				p = JSON.stringify(server.get_stats()).to_utf8_buffer()
			if peer.put_packet(p) != OK:
				_pending[id] = [p]
				break


func _work_mp() -> void:
	if not _mp_pending.is_empty():
		server.set_target_peer(_mp_pending[0])
		if server.put_packet(_mp_pending[1]) != OK:
			# The peer may be gone: then the packet has nowhere to go.
			if _mp_peers.has(_mp_pending[0]):
				return
		_mp_pending = []
	while server.get_available_packet_count() > 0:
		var from: int = server.get_packet_peer()
		var p: PackedByteArray = server.get_packet()
		if p == _stats_request:
			p = JSON.stringify(server.get_stats()).to_utf8_buffer()
		server.set_target_peer(from)
		if server.put_packet(p) != OK and _mp_peers.has(from):
			_mp_pending = [from, p]
			return


func _fail(code: int, why: String) -> void:
	printerr("FATAL: %s" % why)
	print("FATAL: %s" % why)
	_running = false
	quit(code)
