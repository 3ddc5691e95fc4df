extends Control
## The multiplayer demo scene (demo/multiplayer/multiplayer_demo.tscn): a few players walk around
## a board and wave at each other, over WebSockets.
##
## In the editor: open this scene, Debug > Customize Run Instances... > Enable Multiple Instances
## (2 to 4), Run Current Scene (F6). Click Host in one window and Join in the others; move with the
## arrow keys or WASD, wave with Space. Each window is a separate Godot process, as on separate
## machines (join ws://HOST-LAN-ADDRESS:9080 from another computer).
##
## - Host: a WebSocketMultiplayerServer (this extension) listens and becomes the scene's
##   multiplayer_peer. The host is peer 1 and plays too.
## - Join: Godot's own WebSocketMultiplayerPeer.create_client(url); any Godot 4 build, Web
##   exports included, joins without the extension.
## - The server spawns one player per peer with the MultiplayerSpawner (its spawn function builds
##   demo/multiplayer/player.tscn from the spawn data), and frees it when the peer leaves: the
##   spawner removes it everywhere.
## - Each peer moves its own player; the MultiplayerSynchronizer in player.tscn replicates the
##   position (see player.gd). wave() is an @rpc that the owner calls on every peer.
##
## Command line (after "--"), which is how servers and the headless demo run it:
##   --name NAME          the player's name (default: the name field)
##   --host PORT          host, as the Host button does (PORT 0: any free port)
##   --join URL           join, as the Join button does
##   --bot                the autopilot walks this player (bots of the headless demo)
##   --bots A,B           with --host: start a bot process per name; every player walks a path
##   --screenshot PATH    save the window as a PNG (with --bots: once everyone has arrived and
##                        waved), then quit; see screenshot.gd
## e.g. godot --headless --path godot-project res://demo/multiplayer/multiplayer_demo.tscn -- --host 9080

const PlayerScene := preload("res://demo/multiplayer/player.tscn")
const Player := preload("res://demo/multiplayer/player.gd")
const Screenshot := preload("res://demo/multiplayer/screenshot.gd")
const DEFAULT_PORT := 9080
const COLORS := [Color("f2b134"), Color("4fb3ff"), Color("7bd88f"), Color("ff6b81"),
	Color("b48efa"), Color("5fd7d7"), Color("ff9f5a"), Color("e0e0e0")]
## Start positions, in arena coordinates, in joining order.
const START_SLOTS := [Vector2(120, 120), Vector2(680, 360), Vector2(680, 120), Vector2(120, 360),
	Vector2(400, 90), Vector2(400, 390), Vector2(260, 240), Vector2(540, 240)]
const MAX_NAME_LENGTH := 16
const DEFAULT_NAMES := ["Ada", "Bea", "Cy", "Dot", "Eli", "Fox", "Gus", "Hal", "Ivy", "Jo"]

enum State { MENU, CONNECTING, PLAYING }

## A line for the event list (plain text; also printed when running headless).
signal event_logged(text: String)
## Players appear and disappear on every peer through the spawner.
signal player_added(player: Player)
signal player_removed(player: Player)
signal player_waved(player: Player)
## `state` changed; `message` says why when the game ended.
signal state_changed(message: String)

var state := State.MENU
## The WebSocketMultiplayerServer while hosting, else null. Untyped, and created through ClassDB:
## a Web export has no such class, and naming it would stop this script from loading there.
var server = null
## The URL joined (clients).
var joined_url := ""
## Failed connections to retry before giving up: instances started together (the editor's Run
## Instances, with --join on their command line) may look for the host before it listens.
var join_retries := 0

# Server side: how many players joined so far, for colours and start slots.
var _joined_count := 0
var _bbcode := RegEx.create_from_string("\\[/?(b|i|color)(=[^\\]]*)?\\]")
# The scene's own MultiplayerAPI, rooted at this node (see _enter_tree()).
var _api := SceneMultiplayer.new()

@onready var autopilot: Node = $Autopilot
@onready var _name: LineEdit = %Name
@onready var _port: SpinBox = %Port
@onready var _host_button: Button = %HostButton
@onready var _url: LineEdit = %Url
@onready var _join_button: Button = %JoinButton
@onready var _leave_button: Button = %LeaveButton
@onready var _status: Label = %Status
@onready var _arena: Control = %Arena
@onready var _players: Node2D = %Players
@onready var _spawner: MultiplayerSpawner = %PlayerSpawner
@onready var _hint: Label = %Hint
@onready var _peer_list: VBoxContainer = %PeerList
@onready var _events: RichTextLabel = %Events
@onready var _wave_button: Button = %WaveButton


func _enter_tree() -> void:
	# Every node path in RPCs and replication is relative to the MultiplayerAPI's root. Rooting
	# one at this scene makes those paths the same on every peer wherever the scene is mounted
	# (main scene, or a child of a test), and lets two instances share one process.
	get_tree().set_multiplayer(_api, get_path())


func _ready() -> void:
	_spawner.spawn_function = _spawn_player
	_players.child_entered_tree.connect(_on_player_entered)
	_players.child_exiting_tree.connect(_on_player_exiting)
	_api.peer_disconnected.connect(_on_peer_disconnected)
	_api.connected_to_server.connect(_on_connected_to_server)
	_api.connection_failed.connect(_on_connection_failed)
	_api.server_disconnected.connect(_on_server_disconnected)
	_host_button.pressed.connect(_on_host_pressed)
	_join_button.pressed.connect(_on_join_pressed)
	_leave_button.pressed.connect(leave)
	_wave_button.pressed.connect(wave)
	_arena.gui_input.connect(_on_arena_input)
	_name.text = DEFAULT_NAMES[OS.get_process_id() % DEFAULT_NAMES.size()]
	_port.value = DEFAULT_PORT
	_url.text = "ws://127.0.0.1:%d" % DEFAULT_PORT
	if not can_host():
		_host_button.tooltip_text = "This build has no WebSocketMultiplayerServer (a Web export cannot listen)"
	_set_status("Host a game or join one.")
	_update_controls()
	_run_command_line.call_deferred()


func _exit_tree() -> void:
	# Closing the connection is enough here: the nodes are on their way out with the scene.
	state = State.MENU
	if _api.multiplayer_peer != null and not _api.multiplayer_peer is OfflineMultiplayerPeer:
		_api.multiplayer_peer.close()
	_api.multiplayer_peer = null
	server = null
	get_tree().set_multiplayer(null, get_path())


## False where the extension is missing (Web exports): such builds can only join.
func can_host() -> bool:
	return ClassDB.class_exists(&"WebSocketMultiplayerServer")


func is_hosting() -> bool:
	return server != null


func is_playing() -> bool:
	return state == State.PLAYING


func in_menu() -> bool:
	return state == State.MENU


## Starts hosting on `port` (0: any free port) and spawns the host's own player. What the Host
## button does. Returns the error of listen().
func host(port: int) -> Error:
	if state != State.MENU:
		return ERR_ALREADY_IN_USE
	if not can_host():
		_set_status("This build cannot host: it has no WebSocketMultiplayerServer.")
		return ERR_UNAVAILABLE
	var peer = ClassDB.instantiate(&"WebSocketMultiplayerServer")
	var err: Error = peer.listen(port)
	if err != OK:
		_set_status("Could not host on port %d: %s" % [port, error_string(err)])
		return err
	server = peer
	# Assigned only after a successful listen(): the MultiplayerAPI rejects a peer that is not
	# connected or connecting.
	multiplayer.multiplayer_peer = server
	_port.set_value_no_signal(get_port())
	_joined_count = 0
	_set_state(State.PLAYING, "")
	log_event("Hosting on port %d." % get_port())
	_spawn_for(1, player_name())
	_set_status(_hosting_status())
	return OK


## Joins the game at `url` with Godot's own client. What the Join button does.
func join(url: String) -> Error:
	if state != State.MENU:
		return ERR_ALREADY_IN_USE
	var peer := WebSocketMultiplayerPeer.new()
	var err := peer.create_client(url)
	if err != OK:
		_set_status("Cannot join %s: %s" % [url, error_string(err)])
		return err
	joined_url = url
	multiplayer.multiplayer_peer = peer
	_set_state(State.CONNECTING, "")
	_set_status("Connecting to %s ..." % url)
	return OK


## Leaves the game; the host's leaving ends it for everyone. What the Leave button does.
func leave() -> void:
	if state == State.MENU:
		return
	var was_hosting := is_hosting()
	_close_peer()
	_back_to_menu("You stopped hosting." if was_hosting else "You left the game.")


## The local player waves on every peer (Space, or the Wave button).
func wave() -> Error:
	var player := local_player()
	if player == null:
		return ERR_UNCONFIGURED
	player.wave.rpc()
	return OK


## The port listened on while hosting, else 0.
func get_port() -> int:
	return server.get_local_port() if server != null else 0


## The name this peer asks for (the server may add a number to keep names unique).
func player_name() -> String:
	var wanted := _name.text.strip_edges().left(MAX_NAME_LENGTH)
	return wanted if not wanted.is_empty() else "Player"


## This peer's player, once spawned.
func local_player() -> Player:
	if state != State.PLAYING:
		return null
	return _players.get_node_or_null(str(multiplayer.get_unique_id())) as Player


func players() -> Array[Player]:
	var out: Array[Player] = []
	for child in _players.get_children():
		if not child.is_queued_for_deletion():
			out.append(child as Player)
	return out


func find_player(wanted_name: String) -> Player:
	for player in players():
		if player.player_name == wanted_name:
			return player
	return null


func arena_bounds() -> Rect2:
	return _arena.bounds()


# --- server ------------------------------------------------------------------------------------

## A client that has connected asks for its player. Peers are spawned only once they asked, so
## the player carries the name the client chose.
@rpc("any_peer", "call_remote", "reliable")
func register_player(requested_name: String) -> void:
	var id := multiplayer.get_remote_sender_id()
	if not multiplayer.is_server() or _players.has_node(str(id)):
		return
	_spawn_for(id, requested_name)


func _spawn_for(id: int, requested_name: String) -> void:
	var slot := _joined_count
	_joined_count += 1
	var data := {
		"id": id,
		"name": _unique_name(requested_name),
		"color": COLORS[slot % COLORS.size()],
		"position": START_SLOTS[slot % START_SLOTS.size()],
	}
	# spawn() runs _spawn_player() here and sends `data` to every peer, now and to late joiners,
	# which run the same function.
	_spawner.spawn(data)


func _unique_name(requested: String) -> String:
	var base := requested.strip_edges().left(MAX_NAME_LENGTH)
	if base.is_empty():
		base = "Player"
	var candidate := base
	var n := 2
	while find_player(candidate) != null:
		candidate = "%s %d" % [base, n]
		n += 1
	return candidate


## The spawner's spawn function, on every peer: the server's spawn(data) and its replicas.
func _spawn_player(data: Dictionary) -> Node:
	var player: Player = PlayerScene.instantiate()
	player.name = str(data["id"])
	player.peer_id = data["id"]
	player.player_name = data["name"]
	player.color = data["color"]
	player.position = data["position"]
	# Before the node enters the tree, and the same on every peer: the owner's synchronizer
	# then sends and everyone else's receives.
	player.set_multiplayer_authority(data["id"])
	return player


func _on_peer_disconnected(id: int) -> void:
	if not is_hosting():
		return
	var player := _players.get_node_or_null(str(id))
	if player != null:
		# Freed on the server, the spawner despawns it on every client.
		player.queue_free()


# --- client ------------------------------------------------------------------------------------

func _on_connected_to_server() -> void:
	join_retries = 0
	_set_state(State.PLAYING, "")
	_set_status("Connected to %s as peer %d" % [joined_url, multiplayer.get_unique_id()])
	register_player.rpc_id(1, player_name())


func _on_connection_failed() -> void:
	if state != State.CONNECTING:
		return
	_close_peer()
	if join_retries > 0:
		join_retries -= 1
		state = State.CONNECTING
		_set_status("No host at %s yet, trying again ..." % joined_url)
		get_tree().create_timer(0.5).timeout.connect(_retry_join)
		return
	_back_to_menu("Could not connect to %s." % joined_url)


func _retry_join() -> void:
	# Leave may have been pressed meanwhile.
	if state == State.CONNECTING:
		state = State.MENU
		join(joined_url)


func _on_server_disconnected() -> void:
	if state != State.MENU and not is_hosting():
		_close_peer()
		_back_to_menu("The host left the game.")


# --- both --------------------------------------------------------------------------------------

func _close_peer() -> void:
	var peer := multiplayer.multiplayer_peer
	# The state changes first: the handlers of what follows see the game as over.
	state = State.MENU
	if peer != null and not peer is OfflineMultiplayerPeer:
		peer.close()
	multiplayer.multiplayer_peer = null
	server = null
	for player in _players.get_children():
		_players.remove_child(player)
		player.queue_free()


func _back_to_menu(message: String) -> void:
	_set_state(State.MENU, message)
	_set_status(message)
	log_event(message)


func _set_state(new_state: State, message: String) -> void:
	state = new_state
	_update_controls()
	state_changed.emit(message)


func _on_player_entered(node: Node) -> void:
	var player := node as Player
	player.waved.connect(_on_player_waved)
	var mine := player.peer_id == multiplayer.get_unique_id()
	if mine:
		log_event("You are %s." % _bb_name(player))
	elif local_player() == null and not is_hosting():
		log_event("%s is here." % _bb_name(player))
	else:
		log_event("%s joined." % _bb_name(player))
	player_added.emit(player)
	_refresh_peers.call_deferred()


func _on_player_exiting(node: Node) -> void:
	var player := node as Player
	if state == State.PLAYING:
		log_event("%s left." % _bb_name(player))
	player_removed.emit(player)
	_refresh_peers.call_deferred()


func _on_player_waved(player: Player) -> void:
	player_waved.emit(player)
	log_event("%s waves." % _bb_name(player))


func _physics_process(delta: float) -> void:
	var player := local_player()
	if player == null:
		return
	if autopilot.is_driving():
		autopilot.drive(player, delta)
		return
	var direction := _input_direction()
	if direction != Vector2.ZERO:
		player.step(direction, delta, arena_bounds())


func _input_direction() -> Vector2:
	# Keys typed into a text field are not moves.
	if get_viewport().gui_get_focus_owner() is LineEdit:
		return Vector2.ZERO
	var direction := Input.get_vector("ui_left", "ui_right", "ui_up", "ui_down")
	# WASD by position on the keyboard, so AZERTY's ZQSD works too.
	direction.x += float(Input.is_physical_key_pressed(KEY_D)) - float(Input.is_physical_key_pressed(KEY_A))
	direction.y += float(Input.is_physical_key_pressed(KEY_S)) - float(Input.is_physical_key_pressed(KEY_W))
	return direction.limit_length(1.0)


func _unhandled_key_input(event: InputEvent) -> void:
	var key := event as InputEventKey
	if key != null and key.pressed and not key.echo and key.physical_keycode == KEY_SPACE:
		if wave() == OK:
			get_viewport().set_input_as_handled()


func _on_arena_input(event: InputEvent) -> void:
	# A click on the board takes the keyboard back from the text fields.
	if event is InputEventMouseButton and event.pressed:
		get_viewport().gui_release_focus()


func _on_host_pressed() -> void:
	host(int(_port.value))
	get_viewport().gui_release_focus()


func _on_join_pressed() -> void:
	join(_url.text.strip_edges())
	get_viewport().gui_release_focus()


# --- UI ----------------------------------------------------------------------------------------

func _update_controls() -> void:
	var menu := state == State.MENU
	_host_button.disabled = not menu or not can_host()
	_join_button.disabled = not menu
	_name.editable = menu
	_port.editable = menu
	_url.editable = menu
	_leave_button.disabled = menu
	_wave_button.disabled = state != State.PLAYING
	_hint.visible = menu


func _hosting_status() -> String:
	var count := players().size()
	return "Hosting on port %d · %d player%s · others join ws://%s:%d" % [
		get_port(), count, "" if count == 1 else "s", _lan_address(), get_port()]


func _refresh_peers() -> void:
	for row in _peer_list.get_children():
		_peer_list.remove_child(row)
		row.queue_free()
	for player in players():
		var row := HBoxContainer.new()
		row.add_theme_constant_override("separation", 8)
		var swatch := ColorRect.new()
		swatch.color = player.color
		swatch.custom_minimum_size = Vector2(14, 14)
		swatch.size_flags_vertical = Control.SIZE_SHRINK_CENTER
		row.add_child(swatch)
		var label := Label.new()
		var tags := []
		if player.peer_id == 1:
			tags.append("host")
		if player.peer_id == multiplayer.get_unique_id():
			tags.append("you")
		label.text = player.player_name + ("  (%s)" % ", ".join(tags) if not tags.is_empty() else "")
		row.add_child(label)
		_peer_list.add_child(row)
	if is_hosting():
		_set_status(_hosting_status())


## The names in the peer list, in order (for tests).
func peer_list_names() -> Array:
	var out := []
	for row in _peer_list.get_children():
		if not row.is_queued_for_deletion():
			out.append((row.get_child(1) as Label).text)
	return out


func _set_status(text: String) -> void:
	_status.text = text


## Adds a line (BBCode) to the event list.
func log_event(bbcode: String) -> void:
	_events.append_text(bbcode + "\n")
	var plain := _bbcode.sub(bbcode, "", true)
	event_logged.emit(plain)
	if DisplayServer.get_name() == "headless":
		print("[%s] %s" % [_who_am_i(), plain])


func _who_am_i() -> String:
	var me := local_player()
	return me.player_name if me != null else player_name()


func _bb_name(player: Player) -> String:
	return "[b][color=#%s]%s[/color][/b]" % [player.color.to_html(false), player.player_name]


## The first private IPv4 address: what other machines on the LAN join.
func _lan_address() -> String:
	for address in IP.get_local_addresses():
		var parts := address.split(".")
		if parts.size() != 4:
			continue
		var second := int(parts[1])
		if parts[0] == "10" or (parts[0] == "192" and second == 168) or (parts[0] == "172" and second >= 16 and second <= 31):
			return address
	return "127.0.0.1"


# --- command line ------------------------------------------------------------------------------

func _run_command_line() -> void:
	var args := OS.get_cmdline_user_args()
	var name_at := args.find("--name")
	if name_at >= 0 and name_at + 1 < args.size():
		_name.text = args[name_at + 1]
	var host_at := args.find("--host")
	var join_at := args.find("--join")
	if args.has("--bot"):
		autopilot.become_bot()
	var shot_at := args.find("--screenshot")
	if shot_at >= 0:
		var shot := Screenshot.new()
		shot.name = "Screenshot"
		var shot_path: String = args[shot_at + 1] if shot_at + 1 < args.size() else ""
		# --path moves Godot into the project: a relative path means where Godot was started.
		if shot_path.is_relative_path() and OS.get_environment("PWD") != "":
			shot_path = OS.get_environment("PWD").path_join(shot_path)
		shot.path = shot_path
		add_child(shot)
	if host_at >= 0:
		var port_arg: String = args[host_at + 1] if host_at + 1 < args.size() else ""
		if host(int(port_arg) if port_arg.is_valid_int() else DEFAULT_PORT) != OK:
			autopilot.give_up("could not host")
			return
		var bots_at := args.find("--bots")
		if bots_at >= 0 and bots_at + 1 < args.size():
			autopilot.start_bots(Array(args[bots_at + 1].split(",", false)))
	elif join_at >= 0 and join_at + 1 < args.size():
		_url.text = args[join_at + 1]
		join_retries = 20
		if join(args[join_at + 1]) != OK:
			autopilot.give_up("could not join")
