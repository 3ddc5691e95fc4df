extends Node
## Server side of the multiplayer demo: our WebSocketMultiplayerServer runs the lobby
## (demo/mp_lobby.gd) that stock Godot 4 clients join with
## WebSocketMultiplayerPeer.create_client("ws://127.0.0.1:PORT").
##
## The node gets its own SceneMultiplayer rooted at itself (so it can live anywhere in a tree,
## next to other multiplayer code); the lobby is its child "Lobby", and clients put theirs at
## /root/Lobby (the default multiplayer root is /root), so RPC paths match.
##
## Usage: add to the tree, start(port), spawn_bots(names) to run demo/mp_bot.gd clients in other
## Godot processes; `finished(summary)` comes once every bot has played its moves, left, and exited.

const Lobby := preload("res://demo/mp_lobby.gd")
## Exit codes in the summary for bots still running, or killed by kill_bots().
const RUNNING := -1
const KILLED := -9

## A line of the game as it happens.
signal log_line(text: String)
## Every bot has left and exited; see summary().
signal finished(summary: Dictionary)

var server: WebSocketMultiplayerServer
var api: SceneMultiplayer
var lobby: Node
## Bot name -> process id.
var bots: Dictionary = {}
## Names of the bots kill_bots() killed.
var killed: Dictionary = {}
var joined_names: Array = []
var left_names: Array = []
var _done := false


func _ready() -> void:
	api = SceneMultiplayer.new()
	get_tree().set_multiplayer(api, get_path())
	lobby = Lobby.new()
	lobby.name = "Lobby"
	add_child(lobby)
	lobby.event.connect(_on_lobby_event)
	lobby.registered.connect(func(_id, player_name): joined_names.append(player_name))
	api.peer_connected.connect(_on_peer_connected)
	api.peer_disconnected.connect(_on_peer_disconnected)


## Starts listening on 127.0.0.1:`port` (0 = any free port).
func start(port := 0) -> Error:
	server = WebSocketMultiplayerServer.new()
	server.bind_ip = "127.0.0.1"
	var err := server.listen(port)
	if err != OK:
		log_line.emit("[server] listen(%d) failed: %s" % [port, error_string(err)])
		return err
	api.multiplayer_peer = server
	log_line.emit("[server] WebSocketMultiplayerServer listening on ws://127.0.0.1:%d (id %d)" % [server.get_local_port(), api.get_unique_id()])
	return OK


func get_port() -> int:
	return server.get_local_port() if server != null else 0


## Starts one bot process per name (demo/mp_bot.gd, a stock Godot 4 client).
func spawn_bots(names: Array) -> void:
	for bot_name in names:
		# --quiet: a bot prints nothing but its errors (stderr), so the game log stays readable.
		var args := PackedStringArray(["--headless", "--quiet", "--path", ProjectSettings.globalize_path("res://"),
			"--script", "res://demo/mp_bot.gd", "--", str(get_port()), bot_name, str(names.size())])
		var pid := OS.create_process(OS.get_executable_path(), args)
		bots[bot_name] = pid
		log_line.emit("[server] started bot %s (pid %d)" % [bot_name, pid])


func _process(_delta: float) -> void:
	if _done or bots.is_empty():
		return
	if left_names.size() == bots.size() and bots.values().all(func(pid): return not OS.is_process_running(pid)):
		_done = true
		var summary := summary()
		log_line.emit("[server] every bot has left")
		finished.emit(summary)


## What happened, for the demo's last line and the test.
func summary() -> Dictionary:
	var names := bots.keys()
	names.sort()
	var saw_everyone := []
	var saw_all_moves := []
	for bot_name in names:
		var report: Dictionary = lobby.leave_reports.get(bot_name, {})
		var saw: Array = report.get("saw", [])
		saw.sort()
		if saw == names:
			saw_everyone.append(bot_name)
		if report.get("moves_seen", -1) == lobby.moves_accepted:
			saw_all_moves.append(bot_name)
	var exit_codes := {}
	for bot_name in names:
		var pid: int = bots[bot_name]
		if killed.has(bot_name):
			exit_codes[bot_name] = KILLED
		elif OS.is_process_running(pid):
			exit_codes[bot_name] = RUNNING
		else:
			exit_codes[bot_name] = OS.get_process_exit_code(pid)
	var joined := joined_names.duplicate()
	joined.sort()
	var left := left_names.duplicate()
	left.sort()
	return {
		"bots": names,
		"joined": joined,
		"saw_everyone": saw_everyone,
		"saw_all_moves": saw_all_moves,
		"left": left,
		"moves": lobby.moves_accepted,
		"moves_refused": lobby.moves_rejected,
		"chat_lines": lobby.chat_lines,
		"exit_codes": exit_codes,
		"ok": joined == names and saw_everyone == names and saw_all_moves == names and left == names
			and exit_codes.values().all(func(code): return code == 0),
	}


static func summary_line(s: Dictionary) -> String:
	return "SUMMARY: %s; %d/%d bots joined, %d saw each other, %d saw all %d moves, %d left; %d chat lines, %d moves refused; exit codes %s" % [
		"OK" if s["ok"] else "FAILED", s["joined"].size(), s["bots"].size(), s["saw_everyone"].size(),
		s["saw_all_moves"].size(), s["moves"], s["left"].size(), s["chat_lines"], s["moves_refused"],
		" ".join(s["bots"].map(func(bot_name): return "%s=%d" % [bot_name, s["exit_codes"][bot_name]]))]


## Kills every bot still running (after a timeout).
func kill_bots() -> void:
	for bot_name in bots:
		if OS.is_process_running(bots[bot_name]):
			log_line.emit("[server] killing bot %s" % bot_name)
			OS.kill(bots[bot_name])
			killed[bot_name] = true


func _on_lobby_event(text: String) -> void:
	log_line.emit(text)


func _on_peer_connected(id: int) -> void:
	log_line.emit("[server] peer %d connected from %s:%d" % [id, server.get_peer_address(id), server.get_peer_port(id)])


func _on_peer_disconnected(id: int) -> void:
	var player_name: String = lobby.name_of(id)
	if lobby.players.has(id):
		if lobby.leave_reports.has(player_name):
			left_names.append(player_name)
		lobby.remove_player(id)
	log_line.emit("[server] peer %d disconnected" % id)


func _exit_tree() -> void:
	if server != null:
		api.multiplayer_peer = null
		server.stop()
	get_tree().set_multiplayer(null, get_path())
