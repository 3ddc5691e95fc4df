extends Node
## The node of test_mp_replication.gd, at /root/World on the server (the test's process, our
## WebSocketMultiplayerServer) and on every stock client (tests/mp/client_main.gd). Both sides build the same
## children in code:
##   Players        where PlayerSpawner puts tests/mp/player.tscn instances (add_spawnable_scene;
##                  their synchronizer is configured in the .tscn)
##   PlayerSpawner  MultiplayerSpawner, spawn_path ../Players
##   Markers        where MarkerSpawner puts the nodes its spawn_function builds
##   MarkerSpawner  MultiplayerSpawner with spawn_function: a Node with a Node3D child "Body" and a
##                  MultiplayerSynchronizer (root_path "..") whose SceneReplicationConfig is built
##                  in code ("Body:position", ON_CHANGE)
## A client reports by RPC every value it sees change ("score:P1", "label:P1", "position:M1")
## and every node that goes away ("gone", key).

const PLAYER_SCENE := "res://tests/mp/player.tscn"

## Set on clients before the node enters the tree; "" on the server.
var client_name := ""
## Server side: every report, as [client_name, key, value, remote sender id].
var reports: Array = []

var players: Node
var markers: Node
var player_spawner: MultiplayerSpawner
var marker_spawner: MultiplayerSpawner
## Client side: what was last reported, key -> value.
var _seen: Dictionary = {}


func _init() -> void:
	players = Node.new()
	players.name = "Players"
	add_child(players)
	player_spawner = MultiplayerSpawner.new()
	player_spawner.name = "PlayerSpawner"
	player_spawner.spawn_path = NodePath("../Players")
	player_spawner.add_spawnable_scene(PLAYER_SCENE)
	add_child(player_spawner)

	markers = Node.new()
	markers.name = "Markers"
	add_child(markers)
	marker_spawner = MultiplayerSpawner.new()
	marker_spawner.name = "MarkerSpawner"
	marker_spawner.spawn_path = NodePath("../Markers")
	marker_spawner.spawn_function = _spawn_marker
	add_child(marker_spawner)


## MarkerSpawner's spawn_function (on the server through spawn(data), on clients when replicated).
func _spawn_marker(data: Dictionary) -> Node:
	var marker := Node.new()
	marker.name = data["name"]
	var body := Node3D.new()
	body.name = "Body"
	body.position = data["position"]
	marker.add_child(body)
	var config := SceneReplicationConfig.new()
	var path := NodePath("Body:position")
	config.add_property(path)
	config.property_set_spawn(path, true)
	config.property_set_replication_mode(path, SceneReplicationConfig.REPLICATION_MODE_ON_CHANGE)
	var sync := MultiplayerSynchronizer.new()
	sync.name = "Sync"
	sync.root_path = NodePath("..")
	sync.replication_config = config
	marker.add_child(sync)
	return marker


func _ready() -> void:
	if client_name == "":
		return
	multiplayer.connected_to_server.connect(func():
		_report("joined", multiplayer.get_unique_id()))


func _process(_delta: float) -> void:
	if client_name == "" or not multiplayer.get_peers().has(1):
		return
	var now := {}
	for player in players.get_children():
		now["score:" + player.name] = player.score
		now["label:" + player.name] = player.label
	for marker in markers.get_children():
		now["position:" + marker.name] = marker.get_node("Body").position
	for key in now:
		if not _seen.has(key) or _seen[key] != now[key]:
			_report(key, now[key])
	for key in _seen:
		if not now.has(key):
			_report("gone", key)
	_seen = now


func _report(key: String, value: Variant) -> void:
	report.rpc_id(1, client_name, key, value)


@rpc("any_peer", "call_remote", "reliable")
func report(from_name: String, key: String, value: Variant) -> void:
	reports.append([from_name, key, value, multiplayer.get_remote_sender_id()])
