extends SceneTree
## Multiplayer through nginx with a short proxy_read_timeout, for scripts/test-deploy-nginx.sh:
##   godot --headless --path <project> --script res://tests/deploy/mp_heartbeat.gd -- \
##       --listen-port P --url ws://127.0.0.1:Q/game/ --idle SECONDS
##
## In this one process: a WebSocketMultiplayerServer on 127.0.0.1:P (nginx proxies Q to it) and
## two stock WebSocketMultiplayerPeer clients joining through nginx. Once both are connected,
## one gets heartbeat_interval on its connection to the server (get_peer(1), the WebSocketPeer
## that WebSocketMultiplayerPeer has no property for); after --idle seconds without packets it
## must still be connected, and the other one must have been cut by the proxy. Prints
## "ok ..." / "FAIL ..." lines; exit code 0 when all passed, 1 otherwise.

const STEP_TIMEOUT_MSEC := 10000

var _failures := 0
var _server: MultiplayerPeer


func _initialize() -> void:
	_run.call_deferred()


func _run() -> void:
	var options := {"listen-port": "", "url": "", "idle": "5"}
	var args := OS.get_cmdline_user_args()
	for i in range(0, args.size() - 1, 2):
		options[args[i].trim_prefix("--")] = args[i + 1]
	if not options["listen-port"].is_valid_int() or options["url"].is_empty():
		printerr("mp_heartbeat: usage: -- --listen-port P --url URL [--idle S]")
		quit(2)
		return
	_server = ClassDB.instantiate(&"WebSocketMultiplayerServer")
	_server.bind_ip = "127.0.0.1"
	var err: Error = _server.listen(int(options["listen-port"]))
	if err != OK:
		_report("WebSocketMultiplayerServer listens on %s" % options["listen-port"], error_string(err))
		_finish()
		return

	var beating := WebSocketMultiplayerPeer.new()
	var silent := WebSocketMultiplayerPeer.new()
	for peer: WebSocketMultiplayerPeer in [beating, silent]:
		peer.create_client(options["url"])
	var joined := await _wait(func() -> bool:
		return beating.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED \
			and silent.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED, [beating, silent])
	_report("WebSocketMultiplayerPeer clients join the WebSocketMultiplayerServer through nginx",
		"" if joined else "connection status %d and %d" % [beating.get_connection_status(), silent.get_connection_status()])
	if not joined:
		_finish()
		return

	var idle := float(options["idle"])
	beating.get_peer(1).heartbeat_interval = 0.5
	var until := Time.get_ticks_msec() + int(idle * 1000.0)
	while Time.get_ticks_msec() < until:
		_server.poll()
		beating.poll()
		silent.poll()
		await process_frame
	_report("WebSocketMultiplayerPeer with get_peer(1).heartbeat_interval 0.5 s: still connected after %.0f s without packets" % idle,
		"" if beating.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED else "disconnected")
	_report("WebSocketMultiplayerPeer without heartbeat: cut by the proxy within %.0f s" % idle,
		"" if silent.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED else "still connected")
	beating.close()
	silent.close()
	_finish()


## Polls the server and `peers` every frame until `done` returns true (true) or
## STEP_TIMEOUT_MSEC pass (false).
func _wait(done: Callable, peers: Array) -> bool:
	var deadline := Time.get_ticks_msec() + STEP_TIMEOUT_MSEC
	while Time.get_ticks_msec() < deadline:
		_server.poll()
		for peer: MultiplayerPeer in peers:
			peer.poll()
		if done.call():
			return true
		await process_frame
	return false


func _report(name: String, why: String) -> void:
	if why.is_empty():
		print("ok " + name)
	else:
		_failures += 1
		print("FAIL %s: %s" % [name, why])


func _finish() -> void:
	if _server != null:
		_server.close()
	quit(1 if _failures > 0 else 0)
