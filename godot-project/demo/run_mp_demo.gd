extends SceneTree
## The multiplayer demo: a lobby served by our WebSocketMultiplayerServer (demo/mp_server.gd) in this
## process, and three bot players (demo/mp_bot.gd, stock Godot 4 clients) in three other Godot
## processes. Prints the game as it happens and a SUMMARY line; exits 0 when every bot joined, saw
## the others, played its moves and left; 1 otherwise or after TIMEOUT_S seconds.
##
##   godot --headless --path godot-project --script res://demo/run_mp_demo.gd [-- PORT]
## (scripts/demo-multiplayer.sh builds the extension and runs this.)

const MpServer := preload("res://demo/mp_server.gd")
const BOTS := ["Alice", "Bob", "Carol"]
const TIMEOUT_S := 40.0

var mp_server: Node
var ended := false


func _initialize() -> void:
	_run.call_deferred()


func _run() -> void:
	if not ClassDB.class_exists("WebSocketMultiplayerServer"):
		printerr("The WebSocketServer extension is not loaded (run scripts/build.sh first).")
		quit(1)
		return
	var args := OS.get_cmdline_user_args()
	var port := int(args[0]) if args.size() > 0 and args[0].is_valid_int() else 0
	mp_server = MpServer.new()
	mp_server.name = "MpServer"
	root.add_child(mp_server)
	mp_server.log_line.connect(print)
	mp_server.finished.connect(_on_finished)
	if mp_server.start(port) != OK:
		_end(1)
		return
	create_timer(TIMEOUT_S).timeout.connect(_on_timeout)
	mp_server.spawn_bots(BOTS)


func _on_finished(summary: Dictionary) -> void:
	print(MpServer.summary_line(summary))
	_end(0 if summary["ok"] else 1)


func _on_timeout() -> void:
	if ended:
		return
	printerr("TIMEOUT: the demo did not finish within %d s" % TIMEOUT_S)
	mp_server.kill_bots()
	print(MpServer.summary_line(mp_server.summary()))
	_end(1)


func _end(code: int) -> void:
	if ended:
		return
	ended = true
	quit(code)
