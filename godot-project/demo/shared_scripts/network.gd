extends RefCounted
## Networking for a game whose server and clients share their scripts, and whose clients are also
## exported to the Web (and to any platform the addon has no library for).
##
## A browser cannot listen for connections, so Web exports do not load this addon: there the class
## WebSocketServer does not exist, and any script that names it (`WebSocketServer.new()`, a type
## hint `: WebSocketServer`) fails to PARSE, taking the whole script down, client code included.
## This script never names the class: it asks ClassDB whether it exists and creates it by name,
## and keeps the server in an untyped variable. Everything else (the client side) uses Godot's own
## WebSocketPeer, which every platform has.
##
##   var net = preload("res://demo/shared_scripts/network.gd").new()
##   if net.can_host():          # false in a Web export
##       net.host(9080)
##   else:
##       net.join("ws://example.com:9080")
##   # every frame: net.poll()
##
## Feature tags are the other half: `OS.has_feature("web")` (or "android", "dedicated_server")
## chooses the role at run time, and a "Web" export preset can exclude server-only scenes.

## A text message arrived: on the host from client `id`, on a client from the server (`id` 1).
signal received(id: int, text: String)

const SERVER_CLASS := &"WebSocketServer"

## The server (a WebSocketServer, untyped on purpose) while hosting, else null.
var server = null
## The connection to the server while joined, else null.
var client: WebSocketPeer = null


## Whether this build can host: the addon's library is loaded (never in a Web export).
func can_host() -> bool:
	return ClassDB.class_exists(SERVER_CLASS)


## Starts a server on `port` (0 picks a free one: see `get_port()`) that answers every text with
## "echo: " + text. Returns an Error; ERR_UNAVAILABLE where this build cannot host.
func host(port: int) -> Error:
	if not can_host():
		push_error("network.gd: this build cannot host (no %s: Web exports cannot listen)." % SERVER_CLASS)
		return ERR_UNAVAILABLE
	server = ClassDB.instantiate(SERVER_CLASS)
	server.data_received.connect(_on_server_data)
	return server.listen(port)


## The port the server listens on, or 0.
func get_port() -> int:
	return server.get_local_port() if server != null else 0


## Connects to `url` (ws:// or wss://) with Godot's own WebSocketPeer.
func join(url: String) -> Error:
	client = WebSocketPeer.new()
	return client.connect_to_url(url)


## Whether the client is connected and can send.
func is_joined() -> bool:
	return client != null and client.get_ready_state() == WebSocketPeer.STATE_OPEN


## Sends a text message to the server.
func send(text: String) -> Error:
	return client.send_text(text)


## Call every frame: emits `received` for every message that arrived.
func poll() -> void:
	if server != null:
		server.poll()
	if client != null:
		client.poll()
		while client.get_available_packet_count() > 0:
			received.emit(1, client.get_packet().get_string_from_utf8())


func _on_server_data(id: int) -> void:
	var peer = server.get_peer(id)
	var text: String = peer.get_packet().get_string_from_utf8()
	received.emit(id, text)
	peer.send_text("echo: " + text)
