extends SceneTree
## Four servers with admission control for third-party clients (scripts/run-client-tests.sh,
## tests/clients/admission_client.py):
##   godot --headless --path <project> --script res://tests/servers/admission_server.gd -- [--lifetime 60]
##
## raw-trusted and mp-trusted (WebSocketServer, WebSocketMultiplayerServer) trust 127.0.0.1 as a
## reverse proxy; raw-untrusted and mp-untrusted trust only 10.0.0.0/8. Every server binds
## 127.0.0.1 with a 2 s handshake_timeout. The token is the query's `token=` or the
## `Authorization: Bearer` header: "good" is accepted, "slow" never answered (refused when the
## timeout passes), anything else rejected with 401 "bad token". An accepted client then
## receives the address the server reports for it (get_peer_address), as text (raw) or as a
## binary packet after the 4-byte id message (multiplayer).
##
## Prints "LISTENING raw-trusted=P raw-untrusted=P mp-trusted=P mp-untrusted=P" once listening.
## Quits with exit code 0 when a raw client sends the text "shutdown", or after --lifetime s.

var servers := {}
var _deadline_msec := 0


func _initialize() -> void:
	OS.low_processor_usage_mode_sleep_usec = 1000
	_start.call_deferred()


func _process(_delta: float) -> bool:
	for server in servers.values():
		server.poll()
	if _deadline_msec > 0 and Time.get_ticks_msec() > _deadline_msec:
		print("admission_server: lifetime over, quitting")
		_quit(0)
	return false


func _start() -> void:
	var args := OS.get_cmdline_user_args()
	var lifetime := 60.0
	if args.size() == 2 and args[0] == "--lifetime" and args[1].is_valid_float():
		lifetime = float(args[1])
	elif not args.is_empty():
		printerr("admission_server: bad arguments %s (usage: [--lifetime S])" % [args])
		_quit(2)
		return
	_deadline_msec = Time.get_ticks_msec() + int(lifetime * 1000.0)
	var ports := PackedStringArray()
	for name in ["raw-trusted", "raw-untrusted", "mp-trusted", "mp-untrusted"]:
		var server = WebSocketServer.new() if name.begins_with("raw") else WebSocketMultiplayerServer.new()
		server.bind_ip = "127.0.0.1"
		server.admission_control = true
		server.handshake_timeout = 2.0
		server.trusted_proxies = PackedStringArray(["127.0.0.1"] if name.ends_with("-trusted") else ["10.0.0.0/8"])
		server.client_handshake.connect(_on_handshake.bind(server))
		if server is WebSocketServer:
			server.client_connected.connect(func(id, _protocol): _tell_address(server, id))
			server.data_received.connect(func(id): _on_raw_data(server, id))
		else:
			server.peer_connected.connect(func(id): _tell_address(server, id))
		var err: Error = server.listen(0)
		if err != OK:
			printerr("admission_server: %s listen failed: %s" % [name, error_string(err)])
			_quit(3)
			return
		servers[name] = server
		ports.append("%s=%d" % [name, server.get_local_port()])
	print("LISTENING " + " ".join(ports))


func _on_handshake(id: int, request: Dictionary, server: Object) -> void:
	var token := ""
	for pair in request["query"].split("&", false):
		if pair.begins_with("token="):
			token = pair.trim_prefix("token=").uri_decode()
	var authorization: String = request["headers"].get("authorization", "")
	if authorization.begins_with("Bearer "):
		token = authorization.trim_prefix("Bearer ")
	print("admission_server: handshake %d from %s, token \"%s\"" % [id, request["address"], token])
	if token == "good":
		server.accept_peer(id)
	elif token != "slow":
		server.reject_peer(id, 401, "bad token")


func _tell_address(server: Object, id: int) -> void:
	var address: String = server.get_peer_address(id)
	if server is WebSocketServer:
		server.get_peer(id).send_text(address)
	else:
		server.set_target_peer(id)
		server.put_packet(address.to_utf8_buffer())


func _on_raw_data(server: WebSocketServer, id: int) -> void:
	var peer := server.get_peer(id)
	while peer.get_available_packet_count() > 0:
		if peer.get_packet().get_string_from_utf8() == "shutdown":
			print("admission_server: shutdown requested")
			_quit.call_deferred(0)


func _quit(code: int) -> void:
	for server in servers.values():
		server.stop()
	servers.clear()
	quit(code)
