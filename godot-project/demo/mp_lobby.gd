extends Node
## The lobby of the multiplayer demo: the same node on the server (demo/mp_server.gd, our
## WebSocketMultiplayerServer) and on every client (demo/mp_bot.gd, a stock WebSocketMultiplayerPeer), at
## the path "Lobby" under each side's multiplayer root, so both declare the same RPCs.
##
## Each player has a name and a position on a 10x10 board. Clients ask the server (id 1); the
## server is the authority: it checks every move and relays chat and positions to everyone.

## Server side: something happened (for the log).
signal event(text: String)
## Server side: a player registered its name.
signal registered(id: int, player_name: String)
## Client side.
signal player_joined_lobby(id: int, player_name: String)
signal player_moved_to(id: int, position: Vector2i)
signal chat_received(id: int, text: String)
signal player_finished_moves(id: int)
signal player_left_lobby(id: int)
signal farewell_received()

const BOARD := Rect2i(0, 0, 10, 10)

## id -> {"name": String, "position": Vector2i}. The server's is the truth; clients mirror it.
var players: Dictionary = {}
## Server side: name -> the report a player sent when leaving (see leaving()).
var leave_reports: Dictionary = {}
## Server side: counts for the summary.
var moves_accepted := 0
var moves_rejected := 0
var chat_lines := 0
## Server side: players waiting for their farewell, and the one leaving now (0: none).
var _leaving_queue: Array = []
var _departing := 0


func name_of(id: int) -> String:
	return players[id]["name"] if players.has(id) else "#%d" % id


## Server side: a peer left (or was dropped) — everyone is told.
func remove_player(id: int) -> void:
	if not players.has(id):
		return
	var player_name := name_of(id)
	players.erase(id)
	event.emit("[lobby] %s left (%d player(s) remain)" % [player_name, players.size()])
	player_left.rpc(id)
	if id == _departing:
		_departing = 0
		_farewell_next()


# --- client -> server -----------------------------------------------------------------------------

@rpc("any_peer", "call_remote", "reliable")
func register(player_name: String) -> void:
	var id := multiplayer.get_remote_sender_id()
	if not multiplayer.is_server() or players.has(id):
		return
	var start := Vector2i(1 + 3 * (players.size() % 3), 1 + 3 * (players.size() / 3 % 3))
	# The newcomer learns who is already here, then everyone (newcomer included) learns of it.
	for other in players:
		player_joined.rpc_id(id, other, players[other]["name"], players[other]["position"])
	players[id] = {"name": player_name, "position": start}
	player_joined.rpc(id, player_name, start)
	event.emit("[lobby] %s joined as peer %d at %s" % [player_name, id, start])
	registered.emit(id, player_name)


@rpc("any_peer", "call_remote", "reliable")
func say(text: String) -> void:
	var id := multiplayer.get_remote_sender_id()
	if not players.has(id):
		return
	chat_lines += 1
	event.emit("[chat] %s: %s" % [name_of(id), text])
	chat.rpc(id, text)


@rpc("any_peer", "call_remote", "reliable")
func move(direction: Vector2i) -> void:
	var id := multiplayer.get_remote_sender_id()
	if not players.has(id):
		return
	var from: Vector2i = players[id]["position"]
	var to := from + direction
	if absi(direction.x) + absi(direction.y) != 1 or not BOARD.has_point(to):
		moves_rejected += 1
		event.emit("[move] %s: %s -> %s refused" % [name_of(id), from, to])
		player_moved.rpc_id(id, id, from) # puts the player back
		return
	moves_accepted += 1
	players[id]["position"] = to
	event.emit("[move] %s: %s -> %s" % [name_of(id), from, to])
	player_moved.rpc(id, to)


@rpc("any_peer", "call_remote", "reliable")
func finished_moves() -> void:
	var id := multiplayer.get_remote_sender_id()
	if players.has(id):
		player_finished.rpc(id)


## The player is about to leave and says what it saw; the server answers farewell().
@rpc("any_peer", "call_remote", "reliable")
func leaving(report: Dictionary) -> void:
	var id := multiplayer.get_remote_sender_id()
	if not players.has(id):
		return
	leave_reports[name_of(id)] = report
	event.emit("[lobby] %s is leaving; it saw %s, %d moves and %d chat lines" % [
		name_of(id), ", ".join(report.get("saw", [])), report.get("moves_seen", 0), report.get("chat_seen", 0)])
	_leaving_queue.append(id)
	if _departing == 0:
		_farewell_next()


## One departure at a time: a player who leaves while another is still leaving gets its farewell
## once the other is gone, so every "X left" notice reaches players who are all still here.
func _farewell_next() -> void:
	while not _leaving_queue.is_empty():
		var id: int = _leaving_queue.pop_front()
		if players.has(id):
			_departing = id
			farewell.rpc_id(id)
			return


# --- server -> clients ----------------------------------------------------------------------------

@rpc("authority", "call_remote", "reliable")
func player_joined(id: int, player_name: String, position: Vector2i) -> void:
	players[id] = {"name": player_name, "position": position}
	player_joined_lobby.emit(id, player_name)


@rpc("authority", "call_remote", "reliable")
func player_moved(id: int, position: Vector2i) -> void:
	if players.has(id):
		players[id]["position"] = position
	player_moved_to.emit(id, position)


@rpc("authority", "call_remote", "reliable")
func chat(id: int, text: String) -> void:
	chat_received.emit(id, text)


@rpc("authority", "call_remote", "reliable")
func player_finished(id: int) -> void:
	player_finished_moves.emit(id)


@rpc("authority", "call_remote", "reliable")
func player_left(id: int) -> void:
	players.erase(id)
	player_left_lobby.emit(id)


@rpc("authority", "call_remote", "reliable")
func farewell() -> void:
	farewell_received.emit()
