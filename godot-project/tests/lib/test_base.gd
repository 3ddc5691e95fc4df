extends SceneTree
## Base of the GDScript integration tests.
##
## A test extends this script and implements `run_tests()` (a coroutine). Every frame the base
## polls the servers and clients registered with `keep_polled()`, so signal handlers run while a
## test awaits `wait_until()`. The test ends with "PASS" on stdout and exit code 0 only when at
## least one check ran and none failed; the runner (scripts/run-godot-tests.sh) also rejects any
## SCRIPT ERROR or gdext panic in the output.

var _failures: PackedStringArray = []
var _checks := 0
var _polled: Array = []
var _started_msec := 0


func _initialize() -> void:
	_started_msec = Time.get_ticks_msec()
	# Headless Godot sleeps between frames; a short sleep keeps tests quick without spinning.
	OS.low_processor_usage_mode = false
	OS.low_processor_usage_mode_sleep_usec = 1000
	_main.call_deferred()


func _main() -> void:
	await run_tests()
	finish()


## Implemented by each test.
func run_tests() -> void:
	fail("this test script does not override run_tests(): it checks nothing")


func _process(_delta: float) -> bool:
	for object in _polled:
		if is_instance_valid(object):
			object.poll()
	return false


## Polls `object` (a WebSocketServer, WebSocketMultiplayerServer, WebSocketPeer, ...) every frame
## from now on.
func keep_polled(object) -> void:
	if not _polled.has(object):
		_polled.append(object)


## Stops polling `object`.
func stop_polling(object) -> void:
	_polled.erase(object)


func check(condition: bool, what: String) -> bool:
	_checks += 1
	if not condition:
		fail(what)
	return condition


func check_eq(actual, expected, what: String) -> bool:
	_checks += 1
	if typeof(actual) != typeof(expected) or actual != expected:
		fail("%s: expected %s, got %s" % [what, _show(expected), _show(actual)])
		return false
	return true


func fail(what: String) -> void:
	_failures.append(what)
	printerr("FAIL: ", what)


func _show(value) -> String:
	var text := var_to_str(value)
	return text if text.length() <= 200 else text.substr(0, 200) + "..."


## Waits (frame by frame) until `condition.call()` is true; fails after `timeout_s` seconds.
func wait_until(condition: Callable, what: String, timeout_s := 5.0) -> bool:
	var deadline := Time.get_ticks_msec() + int(timeout_s * 1000.0)
	while not condition.call():
		if Time.get_ticks_msec() > deadline:
			fail("timed out after %.1f s waiting for: %s" % [timeout_s, what])
			return false
		await process_frame
	return true


## Lets `seconds` pass while everything stays polled.
func wait_seconds(seconds: float) -> void:
	var deadline := Time.get_ticks_msec() + int(seconds * 1000.0)
	while Time.get_ticks_msec() < deadline:
		await process_frame


## Starts a WebSocketServer on 127.0.0.1 and a free port, polled every frame.
func start_server(protocols := PackedStringArray(), bind_ip := "127.0.0.1") -> WebSocketServer:
	var server := WebSocketServer.new()
	server.bind_ip = bind_ip
	var err := server.listen(0, protocols)
	check_eq(err, OK, "listen() on %s" % bind_ip)
	keep_polled(server)
	return server


## Godot's own client, connected to `url`, polled every frame. Returns it once OPEN (or failed).
func connect_client(url: String, protocols := PackedStringArray()) -> WebSocketPeer:
	var client := WebSocketPeer.new()
	client.supported_protocols = protocols
	var err := client.connect_to_url(url)
	check_eq(err, OK, "connect_to_url(%s)" % url)
	keep_polled(client)
	await wait_until(func(): return client.get_ready_state() != WebSocketPeer.STATE_CONNECTING,
		"client to leave CONNECTING (%s)" % url)
	return client


## Disconnects every handler of `object`'s signals: lambdas that capture the object they are
## connected to form reference cycles that would otherwise leak at exit.
func disconnect_all(object: Object) -> void:
	for sig in object.get_signal_list():
		for connection in object.get_signal_connection_list(sig["name"]):
			object.disconnect(sig["name"], connection["callable"])


func finish() -> void:
	for object in _polled:
		if not is_instance_valid(object):
			continue
		if object is WebSocketServer or object is WebSocketMultiplayerServer:
			object.stop()
		disconnect_all(object)
	_polled.clear()
	var seconds := (Time.get_ticks_msec() - _started_msec) / 1000.0
	if _checks == 0:
		fail("no check ran")
	if _failures.is_empty():
		print("PASS: %d checks in %.1f s" % [_checks, seconds])
		quit(0)
	else:
		printerr("%d of %d checks failed" % [_failures.size(), _checks])
		quit(1)
