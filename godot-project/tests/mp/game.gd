extends Node
## The node of test_mp_rpc.gd, at /root/Game on the server (the test's process, our WebSocketMultiplayerServer)
## and on every stock client (tests/mp/client_main.gd): both sides declare the same RPCs.
##
## Server side (client_name == ""): records what the clients report and send.
## Client side: follows the server's commands and reports what it observed with
## `report.rpc_id(1, client_name, key, value)`.

## Server side: every report, as [client_name, key, value, remote sender id].
var reports: Array = []
## Server side: every to_server() call, as [remote sender id, client_name, values].
var received: Array = []
## Server side: peer_message() calls that reached the server (relayed messages must not).
var misrouted: Array = []

## Set on clients before the node enters the tree; "" on the server.
var client_name := ""


## The values a client sends for `seed_name` (the server computes the same to check them): one
## of each Variant type the tests cover, with a 64-bit int and a float that needs 64 bits.
static func sample_values(seed_name: String) -> Array:
	return [
		(1 << 40) + seed_name.length(),
		2.718281828459045,
		"héllo %s ✓" % seed_name,
		Vector3(1.5, -2.25, 1000.0),
		[1, "two", 3.0, [4, seed_name]],
		{"name": seed_name, "n": 7, "nested": {"k": [1, 2]}, 5: null},
		PackedByteArray([0, 1, 127, 128, 255]) + seed_name.to_utf8_buffer(),
	]


static func sha256(data: PackedByteArray) -> String:
	var ctx := HashingContext.new()
	ctx.start(HashingContext.HASH_SHA256)
	ctx.update(data)
	return ctx.finish().hex_encode()


func _ready() -> void:
	if client_name == "":
		return
	multiplayer.connected_to_server.connect(func():
		_report("joined", multiplayer.get_unique_id()))
	multiplayer.peer_disconnected.connect(func(id: int):
		_report("peer_disconnected", id))


func _report(key: String, value: Variant) -> void:
	# Not after the server has gone (its own peer_disconnected(1) comes before server_disconnected).
	if multiplayer.get_peers().has(1):
		report.rpc_id(1, client_name, key, value)


# --- clients -> server -------------------------------------------------------------------------

@rpc("any_peer", "call_remote", "reliable")
func report(from_name: String, key: String, value: Variant) -> void:
	reports.append([from_name, key, value, multiplayer.get_remote_sender_id()])


@rpc("any_peer", "call_remote", "reliable")
func to_server(from_name: String, i: int, f: float, s: String, v: Vector3, a: Array, d: Dictionary, b: PackedByteArray) -> void:
	received.append([multiplayer.get_remote_sender_id(), from_name, [i, f, s, v, a, d, b]])


# --- client -> client (relayed by the server) --------------------------------------------------

@rpc("any_peer", "call_remote", "reliable")
func peer_message(from_name: String, i: int, f: float, s: String, v: Vector3, a: Array, d: Dictionary, b: PackedByteArray) -> void:
	var values := [i, f, s, v, a, d, b]
	if client_name == "":
		misrouted.append([multiplayer.get_remote_sender_id(), from_name])
		return
	_report("peer_message", [from_name, multiplayer.get_remote_sender_id(), values])


# --- server -> clients -------------------------------------------------------------------------

@rpc("authority", "call_remote", "reliable")
func command(what: String, args: Array) -> void:
	match what:
		"ping":
			_report("pong", args[0])
		"report_peers":
			var peers := Array(multiplayer.get_peers())
			peers.sort()
			_report("peers", peers)
		"send_to_server":
			var v := sample_values(client_name)
			to_server.rpc_id(1, client_name, v[0], v[1], v[2], v[3], v[4], v[5], v[6])
		"send_to_peer":
			var v := sample_values(client_name)
			peer_message.rpc_id(args[0], client_name, v[0], v[1], v[2], v[3], v[4], v[5], v[6])
		"quit":
			get_tree().call("quit_by_request") # tests/mp/client_main.gd
		_:
			_report("unknown_command", what)


@rpc("authority", "call_remote", "reliable")
func typed_args(tag: String, i: int, f: float, s: String, v: Vector3, a: Array, d: Dictionary, b: PackedByteArray) -> void:
	_report("typed:" + tag, [i, f, s, v, a, d, b])


@rpc("authority", "call_remote", "reliable")
func big(payload: PackedByteArray) -> void:
	_report("big", [payload.size(), sha256(payload)])
