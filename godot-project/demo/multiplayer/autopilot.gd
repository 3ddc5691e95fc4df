extends Node
## The scripted game of the multiplayer demo scene, for runs without anyone at the keyboard: the
## headless demo (demo/run_mp_demo.gd, scripts/demo-multiplayer.sh), its test and the README's
## screenshot. It is the node "Autopilot" of multiplayer_demo.tscn, on every peer, so its RPCs
## resolve everywhere; it does nothing until start_bots() or become_bot().
##
## Host (start_bots(names)): starts one bot per name, each a separate headless Godot running this
## scene as a stock client (`-- --join URL --name NAME --bot`: WebSocketMultiplayerPeer only).
## Once every bot's player is spawned it gives every player, its own included, a path (go());
## every peer watches the others walk, arrive and wave. When the host has seen all of it, it
## dismisses the bots one at a time: each sends a report of what it saw and leaves, and the next
## is dismissed once the last one's player is gone, so each report also shows the earlier
## departures. `finished(summary)` comes once every bot process has exited.
##
## Bot (become_bot()): walks its path, waves at the end, reports when dismissed, leaves when the
## host says farewell, and exits with code 0 when it saw every player spawn, arrive at its last
## waypoint and wave; 1 otherwise, when the host goes away first, or after BOT_LIFETIME_S.

## The host has seen every player arrive and wave (the moment for a screenshot).
signal everyone_arrived
## Every bot has left and exited; see summary().
signal finished(summary: Dictionary)
## A line of the game's log (also printed).
signal log_line(text: String)

const Player := preload("res://demo/multiplayer/player.gd")
const SCENE_PATH := "res://demo/multiplayer/multiplayer_demo.tscn"
const BOT_LIFETIME_S := 60.0
## How long a dismissed bot waits to have seen everything before it reports anyway.
const REPORT_WAIT_S := 5.0
## Exit codes in the summary for bots still running, or killed by kill_bots().
const RUNNING := -1
const KILLED := -9
## The arena's centre and the ellipse the paths end on.
const CENTER := Vector2(400, 240)
const ENDS_RADIUS := Vector2(230, 125)

enum Phase { IDLE, JOINING, WALKING, ARRIVED, LEAVING, EXITING, DONE }

## Every peer: player name -> its path (an Array of Vector2), from go().
var paths: Dictionary = {}
## Every peer: what it saw, by player name.
var seen_spawned: Dictionary = {}
var seen_arrived: Dictionary = {}
var seen_waved: Dictionary = {}
## Every peer: the players it saw leave, in order.
var seen_gone: Array = []

## Host: bot name -> process id.
var bots: Dictionary = {}
## Host: bot name -> the report it sent when dismissed.
var reports: Dictionary = {}
## Host: names of the bots kill_bots() killed.
var killed: Dictionary = {}
## Host: the bots in the order they were dismissed.
var dismissal_order: Array = []
## Host: keep the bots after everyone arrived, until release() (for a screenshot).
var hold := false
var phase := Phase.IDLE

var is_bot := false
var _demo: Control
var _host_name := ""
var _route: Array = []
var _walking := false
var _queue: Array = []
var _departing := ""
var _next_waypoint: Dictionary = {}
var _leaving := false
var _ended := false


func _ready() -> void:
	_demo = get_parent() as Control
	_demo.player_added.connect(_on_player_added)
	_demo.player_removed.connect(_on_player_removed)
	_demo.player_waved.connect(_on_player_waved)
	_demo.state_changed.connect(_on_state_changed)


func is_refereeing() -> bool:
	return not bots.is_empty()


## True while this peer's player follows its path (the keyboard does nothing meanwhile).
func is_driving() -> bool:
	return _walking


## Moves the local player along its path for `delta` seconds; waves at the end of it.
func drive(player: Player, delta: float) -> void:
	if _route.is_empty():
		_walking = false
		return
	if player.walk_to(_route[0], delta):
		_route.pop_front()
		if _route.is_empty():
			_walking = false
			_wave_after_sync(player)


## Waves once the MultiplayerAPI has sent the final position (it polls, and sends, just before
## the tree's process_frame signal), so that everyone sees the player arrive before it waves.
func _wave_after_sync(player: Player) -> void:
	await get_tree().process_frame
	if is_instance_valid(player) and player == _demo.local_player():
		player.wave.rpc()


## True once this peer has seen every player of go() spawn, reach the end of its path and wave.
func saw_everything() -> bool:
	if paths.is_empty():
		return false
	for player_name in paths:
		if not (seen_spawned.has(player_name) and seen_arrived.has(player_name) and seen_waved.has(player_name)):
			return false
	return true


## What this peer saw, as sent to the host.
func my_report() -> Dictionary:
	return {
		"spawned": _sorted_keys(seen_spawned),
		"arrived": _sorted_keys(seen_arrived),
		"waved": _sorted_keys(seen_waved),
		"gone": seen_gone.duplicate(),
	}


# --- bot -----------------------------------------------------------------------------------------

## This process is a bot: the autopilot walks its player, and it quits on its own.
func become_bot() -> void:
	is_bot = true
	get_tree().create_timer(BOT_LIFETIME_S).timeout.connect(_on_lifetime_over)


## The command line asked for something that failed: a bot, or a run that takes a screenshot,
## ends with exit code 1 instead of staying in the menu.
func give_up(why: String) -> void:
	if is_bot or _demo.has_node("Screenshot"):
		_end(1, why)


func _on_lifetime_over() -> void:
	_end(1, "still running after %d s" % BOT_LIFETIME_S)


func _on_state_changed(message: String) -> void:
	if is_bot and _demo.in_menu() and not _leaving:
		_end(1, message)


## Bot: the host is done with us. Report once everything was seen (or REPORT_WAIT_S passed).
@rpc("authority", "call_remote", "reliable")
func dismiss() -> void:
	var deadline := Time.get_ticks_msec() + int(REPORT_WAIT_S * 1000.0)
	while not saw_everything() and Time.get_ticks_msec() < deadline:
		await get_tree().process_frame
	if _demo.is_playing():
		report.rpc_id(1, my_report())


## Bot: the host has our report.
@rpc("authority", "call_remote", "reliable")
func farewell() -> void:
	var complete := saw_everything()
	_leaving = true
	_demo.leave()
	_end(0 if complete else 1, "" if complete else "left without seeing everything: %s" % [my_report()])


func _end(code: int, why: String) -> void:
	if _ended:
		return
	_ended = true
	if why != "":
		printerr("%s: %s" % [_demo.player_name(), why])
	get_tree().quit(code)


# --- host ----------------------------------------------------------------------------------------

## Host: starts one bot process per name; the game then plays itself (see the top of this file).
func start_bots(names: Array) -> void:
	var me: Player = _demo.local_player()
	if me == null or not _demo.is_hosting():
		_say("start_bots() needs a hosting scene")
		return
	_host_name = me.player_name
	phase = Phase.JOINING
	var url := "ws://127.0.0.1:%d" % _demo.get_port()
	for bot_name in names:
		if bot_name == _host_name:
			_say("no bot named %s: that is the host's name" % bot_name)
			continue
		# --quiet: a bot prints only its errors, so the log stays the host's story.
		var args := PackedStringArray(["--headless", "--quiet", "--path", ProjectSettings.globalize_path("res://"),
			SCENE_PATH, "--", "--join", url, "--name", bot_name, "--bot"])
		var pid := OS.create_process(OS.get_executable_path(), args)
		bots[bot_name] = pid
		_say("started bot %s (pid %d), joining %s" % [bot_name, pid, url])


## Host: lets the bots leave after a hold (see `hold`).
func release() -> void:
	hold = false
	if phase == Phase.ARRIVED:
		_start_leaving()


## Host: kills every bot still running (after a time limit).
func kill_bots() -> void:
	for bot_name in bots:
		if OS.is_process_running(bots[bot_name]):
			_say("killing bot %s" % bot_name)
			OS.kill(bots[bot_name])
			killed[bot_name] = true


func _process(_delta: float) -> void:
	_watch_paths()
	match phase:
		Phase.JOINING:
			if bots.keys().all(func(bot_name): return _demo.find_player(bot_name) != null):
				_start_walking()
		Phase.WALKING:
			if saw_everything():
				phase = Phase.ARRIVED
				_say("every player reached the end of its path and waved, as seen by the host")
				everyone_arrived.emit()
				if not hold:
					_start_leaving()
		Phase.EXITING:
			if bots.values().all(func(pid): return not OS.is_process_running(pid)):
				phase = Phase.DONE
				_say("every bot process has exited")
				finished.emit(summary())


func _start_walking() -> void:
	var walkers: Array = [_host_name]
	walkers.append_array(bots.keys())
	var new_paths := {}
	for i in walkers.size():
		var player: Player = _demo.find_player(walkers[i])
		new_paths[walkers[i]] = _route_for(player.position, i, walkers.size())
	phase = Phase.WALKING
	_say("everyone is here (%s): go!" % ", ".join(walkers))
	go.rpc(new_paths)


## Three waypoints: halfway across, then up or down, then to a point of an ellipse around the
## centre, so that the players end up spread out.
static func _route_for(start: Vector2, index: int, count: int) -> Array:
	var angle := PI / 2.0 + TAU * index / count
	var end := (CENTER + Vector2(cos(angle), sin(angle)) * ENDS_RADIUS).round()
	var across := Vector2(roundf((start.x + end.x) / 2.0), start.y)
	return [across, Vector2(across.x, end.y), end]


## Every peer: the host hands out the paths; the players named in them walk (a human client
## that is not named keeps its keyboard).
@rpc("authority", "call_local", "reliable")
func go(new_paths: Dictionary) -> void:
	paths = new_paths
	var me: Player = _demo.local_player()
	if me != null and paths.has(me.player_name) and (is_bot or is_refereeing()):
		_route = Array(paths[me.player_name]).duplicate()
		_walking = true


## Host: a dismissed bot's account of the game.
@rpc("any_peer", "call_remote", "reliable")
func report(what_it_saw: Dictionary) -> void:
	if not multiplayer.is_server():
		return
	var sender := multiplayer.get_remote_sender_id()
	var player: Player = _demo.get_node_or_null("%%Players/%d" % sender)
	if player == null:
		return
	reports[player.player_name] = what_it_saw
	_say("%s reports: saw %d spawned, %d arrive, %d wave; saw leave: %s" % [player.player_name,
		Array(what_it_saw.get("spawned", [])).size(), Array(what_it_saw.get("arrived", [])).size(),
		Array(what_it_saw.get("waved", [])).size(), _list(what_it_saw.get("gone", []))])
	farewell.rpc_id(sender)


func _start_leaving() -> void:
	phase = Phase.LEAVING
	_queue = bots.keys()
	_dismiss_next()


func _dismiss_next() -> void:
	if phase != Phase.LEAVING:
		return
	while not _queue.is_empty():
		var bot_name: String = _queue.pop_front()
		var player: Player = _demo.find_player(bot_name)
		if player != null:
			_departing = bot_name
			dismissal_order.append(bot_name)
			_say("dismissing %s" % bot_name)
			dismiss.rpc_id(player.peer_id)
			return
	phase = Phase.EXITING
	_say("every bot has left; waiting for their processes to exit")


# --- what every peer sees ------------------------------------------------------------------------

func _on_player_added(player: Player) -> void:
	seen_spawned[player.player_name] = true


func _on_player_waved(player: Player) -> void:
	# The position that came in the same poll as the wave is noted first.
	_watch_paths()
	seen_waved[player.player_name] = true


func _on_player_removed(player: Player) -> void:
	if not _demo.is_playing():
		return  # this peer is leaving: not a departure of that player
	seen_gone.append(player.player_name)
	if player.player_name == _departing:
		_departing = ""
		_dismiss_next.call_deferred()
	else:
		_queue.erase(player.player_name)


## Notes who reached the end of its path; the host also logs each waypoint as it sees it, which
## is what replication delivered.
func _watch_paths() -> void:
	for player_name in paths:
		var player: Player = _demo.find_player(player_name)
		if player == null:
			continue
		var route: Array = paths[player_name]
		# A waypoint passed between two replicated updates is skipped, not waited for.
		for i in range(_next_waypoint.get(player_name, 0), route.size()):
			if player.position == route[i]:
				_next_waypoint[player_name] = i + 1
				if is_refereeing():
					_say("sees %s at waypoint %d/%d %s" % [player_name, i + 1, route.size(), route[i]])
				break
		if player.position == route.back():
			seen_arrived[player_name] = true


# --- summary -------------------------------------------------------------------------------------

## Host: what happened, from the host's own view and the bots' reports.
func summary() -> Dictionary:
	var names: Array = [_host_name]
	names.append_array(bots.keys())
	var observers := {_host_name: my_report()}
	observers.merge(reports)
	var problems: Array = []
	var counts := {"spawned": 0, "arrived": 0, "waved": 0}
	var joined := []
	for bot_name in bots:
		if seen_spawned.has(bot_name):
			joined.append(bot_name)
		else:
			problems.append("%s never joined" % bot_name)
	for observer in names:
		if not observers.has(observer):
			problems.append("no report from %s" % observer)
			continue
		var saw: Dictionary = observers[observer]
		for what in counts:
			for player_name in names:
				if Array(saw.get(what, [])).has(player_name):
					counts[what] += 1
				else:
					problems.append("%s did not see %s %s" % [observer, player_name, what])
	# Removals: the host sees every bot go; each bot saw those dismissed before it.
	var removals_expected := bots.size()
	var removals_seen := 0
	for bot_name in bots:
		if seen_gone.has(bot_name):
			removals_seen += 1
		else:
			problems.append("the host did not see %s leave" % bot_name)
		if _demo.find_player(bot_name) != null:
			problems.append("%s's player is still on the host" % bot_name)
	for k in dismissal_order.size():
		var gone: Array = observers.get(dismissal_order[k], {}).get("gone", [])
		for earlier in dismissal_order.slice(0, k):
			removals_expected += 1
			if gone.has(earlier):
				removals_seen += 1
			else:
				problems.append("%s did not see %s leave" % [dismissal_order[k], earlier])
	var exit_codes := {}
	for bot_name in bots:
		var pid: int = bots[bot_name]
		if killed.has(bot_name):
			exit_codes[bot_name] = KILLED
		elif OS.is_process_running(pid):
			exit_codes[bot_name] = RUNNING
		else:
			exit_codes[bot_name] = OS.get_process_exit_code(pid)
		if exit_codes[bot_name] != 0:
			problems.append("bot %s exit code %d" % [bot_name, exit_codes[bot_name]])
	return {
		"players": names,
		"bots": bots.keys(),
		"joined": joined,
		"reports": observers,
		"paths": paths.duplicate(),
		"expected_each": names.size() * names.size(),
		"spawns_seen": counts["spawned"],
		"arrivals_seen": counts["arrived"],
		"waves_seen": counts["waved"],
		"removals_expected": removals_expected,
		"removals_seen": removals_seen,
		"dismissal_order": dismissal_order.duplicate(),
		"exit_codes": exit_codes,
		"problems": problems,
		"ok": problems.is_empty(),
	}


static func summary_line(s: Dictionary) -> String:
	var codes: Array = s["bots"].map(func(bot_name): return "%s=%d" % [bot_name, s["exit_codes"][bot_name]])
	return "SUMMARY: %s; %d/%d bots joined; of %d (every peer x every player): %d spawns, %d arrivals, %d waves seen; %d/%d departures seen; bot exit codes %s" % [
		"OK" if s["ok"] else "FAILED", s["joined"].size(), s["bots"].size(), s["expected_each"],
		s["spawns_seen"], s["arrivals_seen"], s["waves_seen"], s["removals_seen"], s["removals_expected"],
		" ".join(codes)]


func _say(text: String) -> void:
	log_line.emit(text)
	print("[autopilot] ", text)


static func _sorted_keys(d: Dictionary) -> Array:
	var keys := d.keys()
	keys.sort()
	return keys


static func _list(names: Array) -> String:
	return "nobody" if names.is_empty() else ", ".join(names)
