extends SceneTree
## The echo WebSocketServer that the Autobahn|Testsuite fuzzingclient tests (scripts/run-autobahn.sh):
##   godot --headless --path <project> --script res://tests/servers/autobahn_echo.gd -- \
##       [--port 0] [--bind 127.0.0.1] [--key FILE --cert FILE [--chain FILE]] [--lifetime 900]
##
## Same interface as echo_server.gd, tuned for the conformance suite:
##   - per-peer buffers of 16 MiB / 4096 messages each way (set_buffers(16384, 4096, 16384, 4096)),
##     because the 9.* cases send messages of up to 16 MiB;
##   - the engine loop runs flat out (no frame pacing, no low-processor sleep), so the 1,000
##     sequential round trips of cases 9.7.* and 9.8.* are not paced by the frame rate;
##   - every message is echoed as it came, text as text and binary as binary, 0-byte messages too
##     (with WebSocketServerPeer.send(); put_packet() cannot send an empty message);
##     a message that does not fit the outbound queue is kept and sent again on the next frames
##     (no reading from that client meanwhile), so nothing is dropped;
##   - no "shutdown" message (a test case could send one): it quits after --lifetime seconds or
##     when the process is killed.
##
## With --key and --cert (PEM files) it serves wss:// only; --chain adds certificates after the leaf.
## Prints "LISTENING <port>" on stdout once listening. Exit code 2 for bad arguments or unreadable
## files, 3 when set_buffers() or listen() fails.

const IN_KB := 16384
const IN_PACKETS := 4096
const OUT_KB := 16384
const OUT_PACKETS := 4096

var server := WebSocketServer.new()
var _deadline_msec := 0
var _quitting := false
var _connections := 0
var _echoed := 0
## peer id -> Array of [data: PackedByteArray, text: bool] not accepted yet by put_packet().
var _pending := {}
## WebSocketServerPeer.send() sends 0-byte messages too; PacketPeer.put_packet() silently skips them
## (Godot's PacketPeer returns OK for an empty buffer without calling the peer). Called through
## call() so this script still parses against a build without send().
var _has_send := ClassDB.class_has_method("WebSocketServerPeer", "send")


func _initialize() -> void:
	# Run flat out: otherwise every round trip waits for the next frame (~7 ms when headless).
	OS.low_processor_usage_mode = false
	OS.low_processor_usage_mode_sleep_usec = 0
	Engine.max_fps = 0
	_start.call_deferred()


func _process(_delta: float) -> bool:
	if _quitting:
		return false
	server.poll()
	for id in _pending.keys():
		_flush(id)
	if _deadline_msec > 0 and Time.get_ticks_msec() > _deadline_msec:
		print("autobahn_echo: lifetime over, quitting (%d connections, %d messages echoed)" % [_connections, _echoed])
		_quit(0)
	return false


func _start() -> void:
	var options := {"port": "0", "bind": "127.0.0.1", "key": "", "cert": "", "chain": "", "lifetime": "900"}
	var args := OS.get_cmdline_user_args()
	var i := 0
	while i < args.size():
		var name := args[i].trim_prefix("--")
		if not args[i].begins_with("--") or not options.has(name) or i + 1 >= args.size():
			printerr("autobahn_echo: bad arguments %s (usage: [--port N] [--bind IP] [--key FILE --cert FILE [--chain FILE]] [--lifetime S])" % [args])
			_quit(2)
			return
		options[name] = args[i + 1]
		i += 2
	if not options["port"].is_valid_int() or not options["lifetime"].is_valid_float():
		printerr("autobahn_echo: --port must be an integer and --lifetime a number of seconds, got %s" % [options])
		_quit(2)
		return

	if not options["key"].is_empty():
		var key := CryptoKey.new()
		var err := key.load(options["key"])
		if err != OK:
			printerr("autobahn_echo: cannot load the private key %s: %s" % [options["key"], error_string(err)])
			_quit(2)
			return
		server.private_key = key
	for which in ["cert", "chain"]:
		if options[which].is_empty():
			continue
		var cert := X509Certificate.new()
		var err := cert.load(options[which])
		if err != OK:
			printerr("autobahn_echo: cannot load the certificate(s) %s: %s" % [options[which], error_string(err)])
			_quit(2)
			return
		if which == "cert":
			server.ssl_certificate = cert
		else:
			server.ca_chain = cert

	var err := server.set_buffers(IN_KB, IN_PACKETS, OUT_KB, OUT_PACKETS)
	if err != OK:
		printerr("autobahn_echo: set_buffers() failed: %s" % error_string(err))
		_quit(3)
		return
	server.bind_ip = options["bind"]
	server.client_connected.connect(_on_connected)
	server.client_disconnected.connect(_on_disconnected)
	server.data_received.connect(_on_data)
	err = server.listen(int(options["port"]))
	if err != OK:
		printerr("autobahn_echo: listen(%s) failed: %s" % [options["port"], error_string(err)])
		_quit(3)
		return
	var lifetime := float(options["lifetime"])
	if lifetime > 0:
		_deadline_msec = Time.get_ticks_msec() + int(lifetime * 1000.0)
	var scheme := "wss" if server.private_key != null else "ws"
	print("autobahn_echo: %s://%s:%d, buffers %d KiB/%d messages in, %d KiB/%d messages out, quits after %s s" % [
		scheme, options["bind"], server.get_local_port(), IN_KB, IN_PACKETS, OUT_KB, OUT_PACKETS, options["lifetime"]])
	if not _has_send:
		printerr("autobahn_echo: this build has no WebSocketServerPeer.send(): 0-byte messages cannot be echoed (put_packet() skips them)")
	print("LISTENING %d" % server.get_local_port())


func _on_connected(_id: int, _protocol: String) -> void:
	_connections += 1


func _on_disconnected(id: int, _clean: bool) -> void:
	_pending.erase(id)


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
		if not _put(peer, item[0], item[1]):
			return
		queue.pop_front()
	_pending.erase(id)
	_echo_available(id)


func _echo_available(id: int) -> void:
	var peer := server.get_peer(id)
	while peer.get_available_packet_count() > 0:
		var data := peer.get_packet()
		var text := peer.was_string_packet()
		if not _put(peer, data, text):
			# The outbound queue is full: keep the message (and stop reading this client, whose
			# inbound queue then fills and pauses it) until the network thread has sent some.
			_pending[id] = [[data, text]]
			return


func _put(peer: WebSocketServerPeer, data: PackedByteArray, text: bool) -> bool:
	var mode := WebSocketPeer.WRITE_MODE_TEXT if text else WebSocketPeer.WRITE_MODE_BINARY
	var err: Error
	if _has_send:
		err = peer.call("send", data, mode)
	else:
		peer.set_write_mode(mode)
		err = peer.put_packet(data)
	if err == OK:
		_echoed += 1
		return true
	if err != ERR_OUT_OF_MEMORY:
		printerr("autobahn_echo: put_packet() of %d bytes returned %s" % [data.size(), error_string(err)])
		return true  # the peer is gone or closing: nothing to retry
	return false


func _quit(code: int) -> void:
	if _quitting:
		return
	_quitting = true
	server.stop()
	quit(code)
