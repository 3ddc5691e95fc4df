extends SceneTree
## Godot 4's own WebSocketPeer through nginx with TLS (docs/deploy/nginx-game.conf), for
## scripts/test-deploy-nginx.sh:
##   godot --headless --path <project> --script res://tests/deploy/heartbeat_client.gd -- \
##       --url wss://127.0.0.1:PORT/game/ --ca ca.pem --idle SECONDS [--heartbeat SECONDS]
##
## Opens two connections trusting only --ca (TLSOptions.client): one with heartbeat_interval
## (its pings keep nginx's proxy_read_timeout from firing), one silent. After --idle seconds
## without messages the first must still be open and the second must have been cut (when
## --idle exceeds the proxy's timeout). Then the first asks "whoami" and closes with 1000.
## Prints "ok ..." / "FAIL ..." lines; exit code 0 when all passed, 1 otherwise.

const STEP_TIMEOUT_MSEC := 10000

var _failures := 0


func _initialize() -> void:
	_run.call_deferred()


func _run() -> void:
	var options := {"url": "", "ca": "", "idle": "0", "heartbeat": "0.5"}
	var args := OS.get_cmdline_user_args()
	for i in range(0, args.size() - 1, 2):
		options[args[i].trim_prefix("--")] = args[i + 1]
	if options["url"].is_empty() or options["ca"].is_empty():
		printerr("heartbeat_client: usage: -- --url URL --ca FILE --idle S [--heartbeat S]")
		quit(2)
		return
	var ca := X509Certificate.new()
	if ca.load(options["ca"]) != OK:
		printerr("heartbeat_client: cannot load %s" % options["ca"])
		quit(2)
		return
	var tls := TLSOptions.client(ca)
	var idle := float(options["idle"])
	var heartbeat := float(options["heartbeat"])

	var beating := WebSocketPeer.new()
	beating.heartbeat_interval = heartbeat
	var silent := WebSocketPeer.new()
	for ws: WebSocketPeer in [beating, silent]:
		var err := ws.connect_to_url(options["url"], tls)
		if err != OK:
			_report("connect_to_url(%s)" % options["url"], error_string(err))
			_finish()
			return
	var opened := await _wait(func() -> bool:
		return beating.get_ready_state() == WebSocketPeer.STATE_OPEN \
			and silent.get_ready_state() == WebSocketPeer.STATE_OPEN, [beating, silent])
	_report("Godot WebSocketPeer: wss through nginx, certificate verified against the test CA",
		"" if opened else "ready states %d and %d, not both open (see the errors above)" % [
			beating.get_ready_state(), silent.get_ready_state()])
	if not opened:
		_finish()
		return

	var until := Time.get_ticks_msec() + int(idle * 1000.0)
	while Time.get_ticks_msec() < until:
		beating.poll()
		silent.poll()
		await process_frame
	silent.poll()
	_report("Godot WebSocketPeer with heartbeat_interval %.1f s: still open after %.0f s without messages" % [heartbeat, idle],
		"" if beating.get_ready_state() == WebSocketPeer.STATE_OPEN else "state %d, close code %d" % [beating.get_ready_state(), beating.get_close_code()])
	_report("Godot WebSocketPeer without heartbeat: cut by the proxy within %.0f s (close code %d)" % [idle, silent.get_close_code()],
		"" if silent.get_ready_state() == WebSocketPeer.STATE_CLOSED else "still open (state %d)" % silent.get_ready_state())
	if beating.get_ready_state() != WebSocketPeer.STATE_OPEN:
		_finish()
		return

	beating.send_text("whoami")
	var got := await _wait(func() -> bool: return beating.get_available_packet_count() > 0, [beating])
	var info = JSON.parse_string(beating.get_packet().get_string_from_utf8()) if got else null
	_report("Godot WebSocketPeer: the server saw X-Forwarded-Proto https and path /",
		"" if info is Dictionary and info.get("x-forwarded-proto") == "https" and info.get("path") == "/" else "got %s" % [info])

	beating.close(1000, "done")
	var closed := await _wait(func() -> bool: return beating.get_ready_state() == WebSocketPeer.STATE_CLOSED, [beating])
	# Over wss:// Godot 4.6's WebSocketPeer reports get_close_code() -1 after its own close() even
	# when the server answered (with any server; over ws:// it reports 1000): the state is checked
	# here, the server's log shows whether the close was clean.
	_report("Godot WebSocketPeer: close(1000) completes (close code reported: %d)" % beating.get_close_code(),
		"" if closed else "state %d after %d ms" % [beating.get_ready_state(), STEP_TIMEOUT_MSEC])
	_finish()


## Polls `peers` every frame until `done` returns true (true), or they are all closed or
## STEP_TIMEOUT_MSEC pass (false).
func _wait(done: Callable, peers: Array) -> bool:
	var deadline := Time.get_ticks_msec() + STEP_TIMEOUT_MSEC
	while Time.get_ticks_msec() < deadline:
		for ws: WebSocketPeer in peers:
			ws.poll()
		if done.call():
			return true
		if peers.all(func(ws: WebSocketPeer) -> bool: return ws.get_ready_state() == WebSocketPeer.STATE_CLOSED):
			return false
		await process_frame
	return false


func _report(name: String, why: String) -> void:
	if why.is_empty():
		print("ok " + name)
	else:
		_failures += 1
		print("FAIL %s: %s" % [name, why])


func _finish() -> void:
	quit(1 if _failures > 0 else 0)
