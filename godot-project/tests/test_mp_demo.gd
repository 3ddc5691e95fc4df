extends "res://tests/lib/test_base.gd"
## The multiplayer demo's flow (what demo/run_mp_demo.gd runs): the lobby served by our
## WebSocketMultiplayerServer (demo/mp_server.gd) in this process, three bots (demo/mp_bot.gd, stock Godot 4
## clients) in other processes. Asserts the summary: every bot joined, saw the others and every
## move, left cleanly and exited with 0. Then runs demo/run_mp_demo.gd itself in another Godot
## and checks its exit code and SUMMARY line.

const MpServer := preload("res://demo/mp_server.gd")
const BOTS := ["Alice", "Bob", "Carol"]

var mp_server: Node
var summary: Dictionary = {}
var lines: Array = []


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketMultiplayerServer"), "class WebSocketMultiplayerServer is registered (extension loaded)"):
		return
	mp_server = MpServer.new()
	mp_server.name = "MpServer"
	root.add_child(mp_server)
	mp_server.log_line.connect(_on_log_line)
	mp_server.finished.connect(func(s): summary = s)
	if check_eq(mp_server.start(0), OK, "the demo server starts"):
		mp_server.spawn_bots(BOTS)
		await wait_until(func(): return not summary.is_empty(), "the demo to finish (every bot played and left)", 40.0)
	if summary.is_empty():
		mp_server.kill_bots()
		summary = mp_server.summary()
	print(MpServer.summary_line(summary))

	var names := BOTS.duplicate()
	names.sort()
	check_eq(summary["joined"], names, "bots that joined")
	check_eq(summary["saw_everyone"], names, "bots that saw all three players")
	check_eq(summary["moves"], 9, "moves accepted by the server (3 per bot)")
	check_eq(summary["moves_refused"], 0, "moves refused")
	check_eq(summary["saw_all_moves"], names, "bots that saw all 9 moves relayed")
	check_eq(summary["chat_lines"], 6, "chat lines relayed (hello and done per bot)")
	check_eq(summary["left"], names, "bots that left after reporting")
	check_eq(summary["exit_codes"], {"Alice": 0, "Bob": 0, "Carol": 0}, "bot exit codes")
	check(summary["ok"], "the summary says OK")
	check(MpServer.summary_line(summary).begins_with("SUMMARY: OK; 3/3 bots joined, 3 saw each other, 3 saw all 9 moves, 3 left"),
		"summary line")
	for bot_name in BOTS:
		check(lines.any(func(line): return line.begins_with("[lobby] %s left" % bot_name)), "the game log shows %s leaving" % bot_name)
	for bot_name in mp_server.bots:
		var pid: int = mp_server.bots[bot_name]
		if OS.is_process_running(pid):
			fail("bot %s (pid %d) still running at the end: killed" % [bot_name, pid])
			OS.kill(pid)
	mp_server.free()
	mp_server = null

	# The demo script itself, as scripts/demo-multiplayer.sh runs it (it ends on its own, 40 s at most).
	var output := []
	var code := OS.execute(OS.get_executable_path(), ["--headless", "--path", ProjectSettings.globalize_path("res://"),
		"--script", "res://demo/run_mp_demo.gd"], output, true)
	var text: String = "".join(output)
	var summary_lines := Array(text.split("\n")).filter(func(line): return line.begins_with("SUMMARY:"))
	check_eq(code, 0, "run_mp_demo.gd exit code")
	check(summary_lines.size() == 1 and summary_lines[0].begins_with("SUMMARY: OK; 3/3 bots joined, 3 saw each other, 3 saw all 9 moves, 3 left"),
		"run_mp_demo.gd prints an OK summary; got %s" % [summary_lines])
	check(not text.contains("SCRIPT ERROR") and not text.contains("ERROR: [panic"), "no script error or panic in run_mp_demo.gd's output")


func _on_log_line(text: String) -> void:
	lines.append(text)
	print(text)
