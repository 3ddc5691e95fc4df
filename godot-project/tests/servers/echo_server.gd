extends SceneTree
## An echo WebSocketServer for third-party clients (scripts/run-client-tests.sh):
##   godot --headless --path <project> --script res://tests/servers/echo_server.gd -- \
##       [--port 0] [--bind 127.0.0.1] [--key FILE --cert FILE [--chain FILE]] [--lifetime 60]
##
## With --key and --cert (PEM files, loaded with CryptoKey.load() / X509Certificate.load()) it
## serves wss:// only; --chain adds more certificates after the leaf. Without them, ws://.
## Every message is echoed to its sender, a text message as text, a binary one as binary.
## A client whose path starts with /info first receives one text message, the JSON object
## {"url": <requested path and query>, "headers": <request headers, lower-case names>,
## "protocol": <sub-protocol>}, then the echo as usual.
##
## Prints "LISTENING <port>" on stdout once listening, and one line per connection event.
## Quits (exit code 0) when a client sends the text "shutdown" or after --lifetime seconds;
## exit code 2 for bad arguments or unreadable files, 3 when listen() fails.

var server := WebSocketServer.new()
var _deadline_msec := 0
var _quitting := false
var _connections := 0


func _initialize() -> void:
	OS.low_processor_usage_mode_sleep_usec = 1000
	_start.call_deferred()


func _process(_delta: float) -> bool:
	if _quitting:
		return false
	server.poll()
	if _deadline_msec > 0 and Time.get_ticks_msec() > _deadline_msec:
		print("echo_server: lifetime over, quitting (%d connections served)" % _connections)
		_quit(0)
	return false


func _start() -> void:
	var options := {"port": "0", "bind": "127.0.0.1", "key": "", "cert": "", "chain": "", "lifetime": "60"}
	var args := OS.get_cmdline_user_args()
	var i := 0
	while i < args.size():
		var name := args[i].trim_prefix("--")
		if not args[i].begins_with("--") or not options.has(name) or i + 1 >= args.size():
			printerr("echo_server: bad arguments %s (usage: [--port N] [--bind IP] [--key FILE --cert FILE [--chain FILE]] [--lifetime S])" % [args])
			_quit(2)
			return
		options[name] = args[i + 1]
		i += 2
	if not options["port"].is_valid_int() or not options["lifetime"].is_valid_float():
		printerr("echo_server: --port must be an integer and --lifetime a number of seconds, got %s" % [options])
		_quit(2)
		return

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
	print("echo_server: %s://%s:%d, quits after %s s or on \"shutdown\"" % [scheme, options["bind"], server.get_local_port(), options["lifetime"]])
	print("LISTENING %d" % server.get_local_port())


func _on_connected(id: int, protocol: String) -> void:
	_connections += 1
	var peer := server.get_peer(id)
	print("echo_server: connected %d %s:%d %s" % [id, server.get_peer_address(id), server.get_peer_port(id), peer.get_requested_url()])
	if peer.get_requested_url().begins_with("/info"):
		var info := {"url": peer.get_requested_url(), "headers": peer.get_request_headers(), "protocol": protocol}
		peer.set_write_mode(WebSocketPeer.WRITE_MODE_TEXT)
		peer.put_packet(JSON.stringify(info).to_utf8_buffer())


func _on_close_request(id: int, code: int, reason: String) -> void:
	print("echo_server: close request %d %d %s" % [id, code, reason.c_escape()])


func _on_disconnected(id: int, clean: bool) -> void:
	print("echo_server: disconnected %d clean=%s" % [id, clean])


func _on_data(id: int) -> void:
	var peer := server.get_peer(id)
	while peer.get_available_packet_count() > 0:
		var data := peer.get_packet()
		var text := peer.was_string_packet()
		if text and data.get_string_from_utf8() == "shutdown":
			print("echo_server: \"shutdown\" received from %d, quitting (%d connections served)" % [id, _connections])
			_quit(0)
			return
		# send() rather than put_packet(): Godot's PacketPeer.put_packet() skips empty packets.
		var err := peer.send(data, WebSocketPeer.WRITE_MODE_TEXT if text else WebSocketPeer.WRITE_MODE_BINARY)
		if err != OK:
			printerr("echo_server: send() to %d (%d bytes) returned %s" % [id, data.size(), error_string(err)])


func _quit(code: int) -> void:
	if _quitting:
		return
	_quitting = true
	server.stop()
	quit(code)
