extends "res://tests/mp/mp_test_base.gd"
## MultiplayerSpawner + MultiplayerSynchronizer over our WebSocketMultiplayerServer (in this process,
## assigned to the scene tree's MultiplayerAPI) to two stock Godot 4 clients in other processes
## (tests/mp/client_main.gd + tests/mp/world.gd at /root/World on both sides).
## - a player scene (tests/mp/player.tscn, add_spawnable_scene; synchronizer in the .tscn:
##   score ALWAYS, label ON_CHANGE) and a marker built by a spawn_function (synchronizer with a
##   SceneReplicationConfig built in code: Body:position ON_CHANGE) are spawned on client A;
## - their properties change on the server and A sees the new values;
## - client B joins late and gets the nodes with their current values;
## - a burst of changes ends with both clients at the final value;
## - freeing the nodes on the server despawns them on both clients;
## - the server's close() ends both clients with server_disconnected.

const World := preload("res://tests/mp/world.gd")
const Player := preload("res://tests/mp/player.tscn")

var world: Node


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketMultiplayerServer"), "class WebSocketMultiplayerServer is registered (extension loaded)"):
		return
	await scenario()
	reap_children()
	get_multiplayer().multiplayer_peer = null
	if world != null:
		world.free()
		world = null


func scenario() -> void:
	var server := WebSocketMultiplayerServer.new()
	server.bind_ip = "127.0.0.1"
	if not check_eq(server.listen(0), OK, "listen(0)"):
		return
	world = World.new()
	world.name = "World"
	root.add_child(world)
	var multiplayer := get_multiplayer()
	multiplayer.multiplayer_peer = server
	var port := server.get_local_port()

	start_client(port, "A", "res://tests/mp/world.gd", "World")
	if not await wait_until(func(): return not last("A", "joined").is_empty(), "client A to join", 20.0):
		return

	# --- spawn: initial values arrive with the spawn ----------------------------------------------
	var player: Node = Player.instantiate()
	player.name = "P1"
	player.score = 5
	player.label = "rookie"
	world.players.add_child(player, true)
	var marker: Node = world.marker_spawner.spawn({"name": "M1", "position": Vector3(1, 2, 3)})
	check(marker != null and marker.get_parent() == world.markers, "spawn_function marker added under Markers")
	await expect("A", {"score:P1": 5, "label:P1": "rookie", "position:M1": Vector3(1, 2, 3)}, "spawned with initial values")

	# --- changes on the server reach the client ---------------------------------------------------
	player.score = 42
	player.label = "champion"
	marker.get_node("Body").position = Vector3(-4, 5.5, 6)
	await expect("A", {"score:P1": 42, "label:P1": "champion", "position:M1": Vector3(-4, 5.5, 6)}, "after changes")

	# --- a client joining later gets the current state --------------------------------------------
	start_client(port, "B", "res://tests/mp/world.gd", "World")
	if not await wait_until(func(): return not last("B", "joined").is_empty(), "client B to join", 20.0):
		return
	await expect("B", {"score:P1": 42, "label:P1": "champion", "position:M1": Vector3(-4, 5.5, 6)}, "late joiner")
	check_eq(first("B", "score:P1"), [42], "late joiner B's first score is the current one")

	# --- a burst of changes, one per frame, ends at the last value on both clients ---------------
	for i in 10:
		player.score = 100 + i
		marker.get_node("Body").position = Vector3(i, 0, -i)
		await process_frame
	player.label = "legend"
	for client_name in ["A", "B"]:
		await expect(client_name, {"score:P1": 109, "label:P1": "legend", "position:M1": Vector3(9, 0, -9)}, "after a burst")

	# --- despawn ----------------------------------------------------------------------------------
	player.queue_free()
	marker.queue_free()
	for client_name in ["A", "B"]:
		await wait_until(func(): return gone(client_name).size() == 3, "client %s to see P1 and M1 despawned" % client_name, 10.0)
		check_eq(gone(client_name), ["label:P1", "position:M1", "score:P1"], "client %s: despawned nodes" % client_name)
	check_eq(reports_with_wrong_sender(), [], "every report came from its client's id")

	# --- close --------------------------------------------------------------------------------------
	multiplayer.multiplayer_peer.close()
	for client_name in ["A", "B"]:
		await check_exit(client_name, Client.EXIT_SERVER_DISCONNECTED, "after the server's close()")


## Waits until client `client_name`'s latest reports match `expected` (key -> value), then checks.
func expect(client_name: String, expected: Dictionary, what: String) -> void:
	await wait_until(func(): return expected.keys().all(func(k): return last(client_name, k) == [expected[k]]),
		"client %s: %s" % [client_name, what], 10.0)
	for key in expected:
		check_eq(last(client_name, key), [expected[key]], "client %s: %s (%s)" % [client_name, what, key])


## [value] of the latest report of `client_name` for `key`, or [] if none.
func last(client_name: String, key: String) -> Array:
	for i in range(world.reports.size() - 1, -1, -1):
		var r: Array = world.reports[i]
		if r[0] == client_name and r[1] == key:
			return [r[2]]
	return []


func first(client_name: String, key: String) -> Array:
	for r in world.reports:
		if r[0] == client_name and r[1] == key:
			return [r[2]]
	return []


func gone(client_name: String) -> Array:
	var out := []
	for r in world.reports:
		if r[0] == client_name and r[1] == "gone":
			out.append(r[2])
	out.sort()
	return out


func reports_with_wrong_sender() -> Array:
	var ids := {}
	for r in world.reports:
		if r[1] == "joined":
			ids[r[0]] = r[2]
	return world.reports.filter(func(r): return r[3] != ids.get(r[0], -1))
