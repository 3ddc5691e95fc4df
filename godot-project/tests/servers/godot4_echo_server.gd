extends SceneTree
## Godot 4's own WebSocket server, for comparison (docs/RELIABILITY.md): the echo server a Godot 4
## user writes by hand with TCPServer + WebSocketPeer.accept_stream() (and StreamPeerTLS with
## TLSOptions.server() for wss://). The Autobahn|Testsuite fuzzes it with
## `AUTOBAHN_SERVER=godot4 scripts/run-autobahn.sh`.
##   godot --headless --path <project> --script res://tests/servers/godot4_echo_server.gd -- \
##       [--port 0] [--key FILE --cert FILE] [--lifetime 60]
##
## Runs flat out (Autobahn's 9.7.* and 9.8.* make 1,000 sequential round trips each). Buffers per
## peer: inbound and outbound 16 MiB, 4,096 packets (Autobahn's 9.* cases send messages of up to
## 16 MiB; the defaults are 64 KiB and 4,096). Every message is echoed as it came (text as text).
## Prints "LISTENING <port>" once listening; quits after --lifetime seconds.

const BUFFER_BYTES := 16 * 1024 * 1024
const BUFFER_PACKETS := 4096

var tcp := TCPServer.new()
var tls_options: TLSOptions = null
## Connections still in the TLS handshake (wss://): [StreamPeerTLS].
var _tls_handshaking: Array = []
var _peers: Array[WebSocketPeer] = []
var _deadline_msec := 0


func _initialize() -> void:
	OS.low_processor_usage_mode = false
	Engine.max_fps = 0
	var options := {"port": "0", "key": "", "cert": "", "lifetime": "60"}
	var args := OS.get_cmdline_user_args()
	for i in range(0, args.size() - 1, 2):
		options[args[i].trim_prefix("--")] = args[i + 1]
	if not options["key"].is_empty():
		var key := CryptoKey.new()
		var cert := X509Certificate.new()
		if key.load(options["key"]) != OK or cert.load(options["cert"]) != OK:
			printerr("godot4_echo_server: cannot load %s / %s" % [options["key"], options["cert"]])
			quit(2)
			return
		tls_options = TLSOptions.server(key, cert)
	if tcp.listen(int(options["port"]), "127.0.0.1") != OK:
		printerr("godot4_echo_server: listen failed")
		quit(3)
		return
	_deadline_msec = Time.get_ticks_msec() + int(float(options["lifetime"]) * 1000.0)
	print("godot4_echo_server: %s://127.0.0.1:%d" % ["wss" if tls_options else "ws", tcp.get_local_port()])
	print("LISTENING %d" % tcp.get_local_port())


func _process(_delta: float) -> bool:
	if Time.get_ticks_msec() > _deadline_msec:
		return true
	while tcp.is_connection_available():
		var stream := tcp.take_connection()
		if tls_options:
			var tls := StreamPeerTLS.new()
			if tls.accept_stream(stream, tls_options) == OK:
				_tls_handshaking.append(tls)
		else:
			_add_peer(stream)
	var still: Array = []
	for tls in _tls_handshaking:
		tls.poll()
		match tls.get_status():
			StreamPeerTLS.STATUS_CONNECTED:
				_add_peer(tls)
			StreamPeerTLS.STATUS_HANDSHAKING:
				still.append(tls)
	_tls_handshaking = still
	var open: Array[WebSocketPeer] = []
	for ws in _peers:
		ws.poll()
		while ws.get_available_packet_count() > 0:
			var packet := ws.get_packet()
			var text := ws.was_string_packet()
			ws.send(packet, WebSocketPeer.WRITE_MODE_TEXT if text else WebSocketPeer.WRITE_MODE_BINARY)
		if ws.get_ready_state() != WebSocketPeer.STATE_CLOSED:
			open.append(ws)
	_peers = open
	return false


func _add_peer(stream: StreamPeer) -> void:
	var ws := WebSocketPeer.new()
	ws.inbound_buffer_size = BUFFER_BYTES
	ws.outbound_buffer_size = BUFFER_BYTES
	ws.max_queued_packets = BUFFER_PACKETS
	if ws.accept_stream(stream) == OK:
		_peers.append(ws)
