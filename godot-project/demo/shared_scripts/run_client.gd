extends SceneTree
## The client side of demo/shared_scripts/network.gd, runnable where the addon is not loaded
## (as in a Web export):
##   godot --headless --path PROJECT --script res://demo/shared_scripts/run_client.gd -- ws://127.0.0.1:9080
## Joins, sends one text saying whether this build could host, waits for the echo, prints
## "client: PASS" and exits 0, or prints "client: FAIL ..." and exits 1 (after 10 s at most).

const Network := preload("res://demo/shared_scripts/network.gd")

var net = Network.new()
var echo := ""
var deadline_msec := 0


func _initialize() -> void:
	var args := OS.get_cmdline_user_args()
	if args.is_empty():
		printerr("client: FAIL usage: -- ws://HOST:PORT")
		quit(1)
		return
	net.received.connect(func(_id: int, text: String): echo = text)
	var err: Error = net.join(args[0])
	if err != OK:
		printerr("client: FAIL join(%s): %s" % [args[0], error_string(err)])
		quit(1)
		return
	deadline_msec = Time.get_ticks_msec() + 10000
	_run.call_deferred()


func _run() -> void:
	while not net.is_joined():
		if not await _tick():
			return
	var message := "hello, can_host=%s, web=%s" % [net.can_host(), OS.has_feature("web")]
	net.send(message)
	while echo.is_empty():
		if not await _tick():
			return
	if echo == "echo: " + message:
		print("client: PASS got \"%s\"" % echo)
		quit(0)
	else:
		printerr("client: FAIL got \"%s\"" % echo)
		quit(1)


## One frame of polling; false (after quitting) when the deadline passed.
func _tick() -> bool:
	net.poll()
	if Time.get_ticks_msec() > deadline_msec:
		printerr("client: FAIL timed out (state %d)" % (net.client.get_ready_state() if net.client else -1))
		quit(1)
		return false
	await process_frame
	return true
