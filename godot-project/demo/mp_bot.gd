extends SceneTree
## A bot player of the multiplayer demo: a stock Godot 4 client (WebSocketMultiplayerPeer only,
## nothing of the extension), run in its own process by demo/mp_server.gd:
##
##   godot --headless --path godot-project --script res://demo/mp_bot.gd -- PORT NAME PLAYER_COUNT
##
## It joins ws://127.0.0.1:PORT, registers NAME in the lobby (demo/mp_lobby.gd at /root/Lobby),
## waits until it sees PLAYER_COUNT players, says hello, plays MOVES moves (the server checks and
## relays each), announces it is done, waits until every player is done, tells the server what it
## saw, and leaves when the server says farewell. Exit code 0 when all of that happened, 1 otherwise.

const Lobby := preload("res://demo/mp_lobby.gd")
const MOVES := 3
const MOVE_INTERVAL_S := 0.15
const LIFETIME_S := 35.0
const DIRECTIONS := [Vector2i.LEFT, Vector2i.RIGHT, Vector2i.UP, Vector2i.DOWN]

var bot_name := ""
var player_count := 0
var lobby: Node
var peer: WebSocketMultiplayerPeer
var rng := RandomNumberGenerator.new()

var seen_names := {}
var moves_seen := 0
var chat_seen := 0
var finished_ids := {}
var moves_left := MOVES
var playing := false
var leaving := false
var ended := false


func _initialize() -> void:
	_start.call_deferred()


func _start() -> void:
	var args := OS.get_cmdline_user_args()
	if args.size() != 3 or not args[0].is_valid_int() or not args[2].is_valid_int():
		printerr("mp_bot: usage: -- PORT NAME PLAYER_COUNT; got %s" % [args])
		quit(1)
		return
	bot_name = args[1]
	player_count = int(args[2])
	rng.seed = hash(bot_name)
	create_timer(LIFETIME_S).timeout.connect(func(): _end(1, "still running after %d s" % LIFETIME_S))

	lobby = Lobby.new()
	lobby.name = "Lobby"
	root.add_child(lobby)
	lobby.player_joined_lobby.connect(_on_player_joined)
	lobby.player_moved_to.connect(func(_id, _position): moves_seen += 1)
	lobby.chat_received.connect(func(_id, _text): chat_seen += 1)
	lobby.player_finished_moves.connect(_on_player_finished)
	lobby.farewell_received.connect(_on_farewell)

	var multiplayer := get_multiplayer()
	multiplayer.connected_to_server.connect(func(): lobby.register.rpc_id(1, bot_name))
	multiplayer.connection_failed.connect(func(): _end(1, "could not connect"))
	multiplayer.server_disconnected.connect(func(): _end(1, "the server went away"))
	peer = WebSocketMultiplayerPeer.new()
	var err := peer.create_client("ws://127.0.0.1:%d" % int(args[0]))
	if err != OK:
		_end(1, "create_client failed: %s" % error_string(err))
		return
	multiplayer.multiplayer_peer = peer


func _on_player_joined(_id: int, player_name: String) -> void:
	seen_names[player_name] = true
	if not playing and seen_names.size() == player_count:
		playing = true
		lobby.say.rpc_id(1, "hi, I'm %s; I see %s" % [bot_name, ", ".join(_sorted_names())])
		_next_move()


func _next_move() -> void:
	if moves_left == 0:
		lobby.say.rpc_id(1, "%s done" % bot_name)
		lobby.finished_moves.rpc_id(1)
		return
	moves_left -= 1
	var mine: Dictionary = lobby.players[get_multiplayer().get_unique_id()]
	var choices := DIRECTIONS.filter(func(d): return Lobby.BOARD.has_point(mine["position"] + d))
	lobby.move.rpc_id(1, choices[rng.randi() % choices.size()])
	create_timer(MOVE_INTERVAL_S).timeout.connect(_next_move)


func _on_player_finished(id: int) -> void:
	finished_ids[id] = true
	if finished_ids.size() == player_count and not leaving:
		leaving = true
		lobby.leaving.rpc_id(1, {"saw": _sorted_names(), "moves_seen": moves_seen, "chat_seen": chat_seen})


func _on_farewell() -> void:
	# Everything we sent has been handled: leave cleanly.
	peer.close()
	_end(0, "")


func _sorted_names() -> Array:
	var names := seen_names.keys()
	names.sort()
	return names


func _end(code: int, why: String) -> void:
	if ended:
		return
	ended = true
	if code != 0:
		printerr("bot %s: %s" % [bot_name, why])
	quit(code)
