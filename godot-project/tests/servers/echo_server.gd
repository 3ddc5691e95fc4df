extends SceneTree
## The echo WebSocketServer that third-party clients test (scripts/run-client-tests.sh: Python
## `websockets`, openssl s_client) and the Autobahn|Testsuite fuzzes (scripts/run-autobahn.sh):
##   godot --headless --path <project> --script res://tests/servers/echo_server.gd -- \
##       [--port 0] [--bind 127.0.0.1] [--key FILE --cert FILE [--chain FILE]] [--lifetime 60] \
##       [--buffers IN_KB,IN_PACKETS,OUT_KB,OUT_PACKETS] [--flat-out] [--no-shutdown]
##
## With --key and --cert (PEM files, loaded with CryptoKey.load() / X509Certificate.load()) it
## serves wss:// only; --chain adds more certificates after the leaf. Without them, ws://.
## Every message is echoed to its sender as it came: text as text, binary as binary, 0-byte
## messages too (WebSocketServerPeer.send(); PacketPeer.put_packet() skips empty buffers). A
## message that does not fit the outbound queue is kept and sent again on the next frames (no
## reading from that client meanwhile), so nothing is dropped.
## A client whose path starts with /info first receives one text message, the JSON object
## {"url": <requested path and query>, "headers": <request headers, lower-case names>,
## "protocol": <sub-protocol>}, then the echo as usual.
##
## --buffers: set_buffers() before listen() (the Autobahn run uses 16384,4096,16384,4096: its 9.*
##   cases send messages of up to 16 MiB).
## --flat-out: no frame pacing (low_processor_usage_mode off, max_fps 0), so sequential round trips
##   (Autobahn's 9.7.* and 9.8.*: 1,000 each) do not wait for the next frame (~7 ms headless).
## --no-shutdown: a text "shutdown" is echoed like any message (a fuzzing case could send one).
##
## Prints "LISTENING <port>" on stdout once listening, and one line per connection event.
## Quits (exit code 0) when a client sends the text "shutdown" (unless --no-shutdown) or after
## --lifetime seconds; exit code 2 for bad arguments or unreadable files, 3 when set_buffers() or
## listen() fails.

const FLAGS := ["flat-out", "no-shutdown"]

var server := WebSocketServer.new()
var _deadline_msec := 0
var _quitting := false
var _connections := 0
var _echoed := 0
var _shutdown_word := true
## peer id -> Array of [data: PackedByteArray, text: bool] not accepted yet by send().
var _pending := {}


func _initialize() -> void:
	OS.low_processor_usage_mode_sleep_usec = 1000
	_start.call_deferred()


func _process(_delta: float) -> bool:
	if _quitting:
		return false
	server.poll()
	for id in _pending.keys():
		_flush(id)
	if _deadline_msec > 0 and Time.get_ticks_msec() > _deadline_msec:
		print("echo_server: lifetime over, quitting (%d connections, %d messages echoed)" % [_connections, _echoed])
		_quit(0)
	return false


func _start() -> void:
	var options := {"port": "0", "bind": "127.0.0.1", "key": "", "cert": "", "chain": "", "lifetime": "60",
		"buffers": "", "flat-out": false, "no-shutdown": false}
	var args := OS.get_cmdline_user_args()
	var i := 0
	while i < args.size():
		var name := args[i].trim_prefix("--")
		if args[i].begins_with("--") and name in FLAGS:
			options[name] = true
			i += 1
			continue
		if not args[i].begins_with("--") or not options.has(name) or i + 1 >= args.size():
			printerr("echo_server: bad arguments %s (usage: [--port N] [--bind IP] [--key FILE --cert FILE [--chain FILE]] [--lifetime S] [--buffers IN_KB,IN_PACKETS,OUT_KB,OUT_PACKETS] [--flat-out] [--no-shutdown])" % [args])
			_quit(2)
			return
		options[name] = args[i + 1]
		i += 2
	var buffers := PackedInt64Array()
	var buffers_ok := true
	for part in options["buffers"].split(",", false):
		buffers.append(int(part) if part.is_valid_int() else -1)
		buffers_ok = buffers_ok and buffers[-1] > 0
	if not options["port"].is_valid_int() or not options["lifetime"].is_valid_float() \
			or not (buffers.is_empty() or (buffers.size() == 4 and buffers_ok)):
		printerr("echo_server: --port must be an integer, --lifetime a number of seconds and --buffers four positive integers, got %s" % [options])
		_quit(2)
		return
	if options["flat-out"]:
		OS.low_processor_usage_mode = false
		OS.low_processor_usage_mode_sleep_usec = 0
		Engine.max_fps = 0
	_shutdown_word = not options["no-shutdown"]

	if not options["key"].is_empty():
		var key := CryptoKey.new()
		var err := key.load(options["key"])
		if err != OK:
			printerr("echo_server: cannot load the private key %s: %s" % [options["key"], error_string(err)])
			_quit(2)
			return
		server.private_key = key
	for which in ["cert", "chain"]:
		if options[which].is_empty():
			continue
		var cert := X509Certificate.new()
		var err := cert.load(options[which])
		if err != OK:
			printerr("echo_server: cannot load the certificate(s) %s: %s" % [options[which], error_string(err)])
			_quit(2)
			return
		if which == "cert":
			server.ssl_certificate = cert
		else:
			server.ca_chain = cert

	if not buffers.is_empty():
		var err := server.set_buffers(buffers[0], buffers[1], buffers[2], buffers[3])
		if err != OK:
			printerr("echo_server: set_buffers(%s) failed: %s" % [options["buffers"], error_string(err)])
			_quit(3)
			return
	server.bind_ip = options["bind"]
	server.client_connected.connect(_on_connected)
	server.client_close_request.connect(_on_close_request)
	server.client_disconnected.connect(_on_disconnected)
	server.data_received.connect(_on_data)
	var err := server.listen(int(options["port"]))
	if err != OK:
		printerr("echo_server: listen(%s) failed: %s" % [options["port"], error_string(err)])
		_quit(3)
		return
	var lifetime := float(options["lifetime"])
	if lifetime > 0:
		_deadline_msec = Time.get_ticks_msec() + int(lifetime * 1000.0)
	var scheme := "wss" if server.private_key != null else "ws"
	print("echo_server: %s://%s:%d, buffers %s, %s, quits after %s s%s" % [scheme, options["bind"],
		server.get_local_port(), options["buffers"] if not buffers.is_empty() else "default",
		"flat out" if options["flat-out"] else "paced", options["lifetime"],
		" or on \"shutdown\"" if _shutdown_word else ""])
	print("LISTENING %d" % server.get_local_port())


func _on_connected(id: int, protocol: String) -> void:
	_connections += 1
	var peer := server.get_peer(id)
	print("echo_server: connected %d %s:%d %s" % [id, server.get_peer_address(id), server.get_peer_port(id), peer.get_requested_url()])
	if peer.get_requested_url().begins_with("/info"):
		var info := {"url": peer.get_requested_url(), "headers": peer.get_request_headers(), "protocol": protocol}
		peer.send_text(JSON.stringify(info))


func _on_close_request(id: int, code: int, reason: String) -> void:
	print("echo_server: close request %d %d %s" % [id, code, reason.c_escape()])


func _on_disconnected(id: int, clean: bool) -> void:
	_pending.erase(id)
	print("echo_server: disconnected %d clean=%s" % [id, clean])


func _on_data(id: int) -> void:
	if not _pending.has(id):
		_echo_available(id)


## Sends what is pending for `id`, then echoes what arrived meanwhile.
func _flush(id: int) -> void:
	if not server.has_peer(id):
		_pending.erase(id)
		return
	var peer := server.get_peer(id)
	var queue: Array = _pending[id]
	while not queue.is_empty():
		var item: Array = queue[0]
		if not _send(peer, item[0], item[1]):
			return
		queue.pop_front()
	_pending.erase(id)
	_echo_available(id)


func _echo_available(id: int) -> void:
	var peer := server.get_peer(id)
	while peer.get_available_packet_count() > 0:
		var data := peer.get_packet()
		var text := peer.was_string_packet()
		if _shutdown_word and text and data.get_string_from_utf8() == "shutdown":
			print("echo_server: \"shutdown\" received from %d, quitting (%d connections served)" % [id, _connections])
			_quit(0)
			return
		if not _send(peer, data, text):
			# The outbound queue is full: keep the message (and stop reading this client, whose
			# inbound queue then fills and pauses it) until the network thread has sent some.
			_pending[id] = [[data, text]]
			return


## False when the outbound queue is full (try again later).
func _send(peer: WebSocketServerPeer, data: PackedByteArray, text: bool) -> bool:
	var err := peer.send(data, WebSocketPeer.WRITE_MODE_TEXT if text else WebSocketPeer.WRITE_MODE_BINARY)
	if err == OK:
		_echoed += 1
		return true
	if err != ERR_OUT_OF_MEMORY:
		printerr("echo_server: send() to %d (%d bytes) returned %s" % [peer.get_id(), data.size(), error_string(err)])
		return true  # the peer is gone or closing: nothing to retry
	return false


func _quit(code: int) -> void:
	if _quitting:
		return
	_quitting = true
	server.stop()
	quit(code)
