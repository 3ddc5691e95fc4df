extends SceneTree
## A WebSocket client for tests that run it in a second Godot process (see test_close.gd):
##   godot --headless --path <project> --script res://tests/clients/idle_client.gd -- <port>
## Connects to ws://127.0.0.1:<port> with Godot's own WebSocketPeer, polls every frame and never
## closes: the test kills this process to simulate a client that dies. Quits by itself after
## 20 s in case nobody kills it.

const SAFETY_NET_MSEC := 20000

var _client := WebSocketPeer.new()
var _started_msec := 0
var _last_state := -1


func _initialize() -> void:
	_started_msec = Time.get_ticks_msec()
	OS.low_processor_usage_mode = false
	var args := OS.get_cmdline_user_args()
	if args.is_empty() or not args[0].is_valid_int():
		printerr("idle_client: usage: -- <port>")
		quit(2)
		return
	var url := "ws://127.0.0.1:%d" % args[0].to_int()
	var err := _client.connect_to_url(url)
	if err != OK:
		printerr("idle_client: connect_to_url(%s) failed: %s" % [url, error_string(err)])
		quit(1)
		return
	print("idle_client: connecting to ", url)


func _process(_delta: float) -> bool:
	_client.poll()
	var state := _client.get_ready_state()
	if state != _last_state:
		_last_state = state
		print("idle_client: state ", state)
	if Time.get_ticks_msec() - _started_msec > SAFETY_NET_MSEC:
		print("idle_client: safety net reached, quitting")
		_client.close()
		return true
	return false
