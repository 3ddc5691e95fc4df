extends SceneTree
## The multiplayer demo, headless: the demo scene (demo/multiplayer/multiplayer_demo.tscn) hosts
## with our WebSocketMultiplayerServer in this process, as its Host button does, and three bots
## join it: the same scene in three other Godot processes, each a stock Godot 4 client
## (WebSocketMultiplayerPeer). Every player walks a path and waves; every peer checks that it saw
## every player spawn (MultiplayerSpawner), arrive (MultiplayerSynchronizer) and wave (@rpc); the
## bots then leave one by one, and the others see their players removed (see
## demo/multiplayer/autopilot.gd).
##
## Prints the game as the host sees it and a SUMMARY line; exits 0 when all of that happened and
## every bot exited with 0; 1 otherwise, or after TIMEOUT_S seconds.
##
##   godot --headless --path godot-project --script res://demo/run_mp_demo.gd [-- PORT]
## (scripts/demo-multiplayer.sh builds the extension and runs this.)

const Demo := preload("res://demo/multiplayer/multiplayer_demo.tscn")
const Autopilot := preload("res://demo/multiplayer/autopilot.gd")
const BOTS := ["Alice", "Bob", "Carol"]
const TIMEOUT_S := 60.0

var demo: Control
var ended := false


func _initialize() -> void:
	_run.call_deferred()


func _run() -> void:
	if not ClassDB.class_exists("WebSocketMultiplayerServer"):
		printerr("The WebSocketServer extension is not loaded (run scripts/build.sh first).")
		_end(1)
		return
	var args := OS.get_cmdline_user_args()
	var port := int(args[0]) if args.size() > 0 and args[0].is_valid_int() else 0
	demo = Demo.instantiate()
	root.add_child(demo)
	demo.get_node("%Name").text = "Host"
	if demo.host(port) != OK:
		printerr("The demo could not host on port %d." % port)
		_end(1)
		return
	demo.autopilot.finished.connect(_on_finished)
	create_timer(TIMEOUT_S).timeout.connect(_on_timeout)
	demo.autopilot.start_bots(BOTS)


func _on_finished(summary: Dictionary) -> void:
	_print_summary(summary)
	_end(0 if summary["ok"] else 1)


func _on_timeout() -> void:
	if ended:
		return
	printerr("TIMEOUT: the demo did not finish within %d s" % TIMEOUT_S)
	demo.autopilot.kill_bots()
	_print_summary(demo.autopilot.summary())
	_end(1)


func _print_summary(summary: Dictionary) -> void:
	for problem in summary["problems"]:
		print("  problem: ", problem)
	print(Autopilot.summary_line(summary))


func _end(code: int) -> void:
	if ended:
		return
	ended = true
	if demo != null:
		demo.leave()
	quit(code)
