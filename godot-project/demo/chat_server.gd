extends Node
## A WebSocket chat server: a port of Godot 3's websocket_chat demo server to the WebSocketServer
## extension. Every text a client sends is relayed to every OTHER client, prefixed with the
## sender's id: "[12345] hello". The server also sends short notices that start with "* ":
##   "* welcome, you are client 12345"   (to a client that just connected)
##   "* peers: 678 910"                  (to that client right after, when others are there)
##   "* 12345 joined" / "* 12345 left"   (to everyone else)
##
## Usage:
##   var chat = preload("res://demo/chat_server.gd").new()
##   add_child(chat)                # the node polls the server in _process()
##   chat.start(9080)               # or 0 for any free port, then chat.get_port()
##
## How the API is used (the same as Godot 3, in Godot 4 syntax):
##   * WebSocketServer.new(), then listen(port).
##   * poll() every frame: signals are emitted, and received messages become readable, ONLY
##     inside poll(). The network work itself runs on a background thread.
##   * client_connected(id, protocol)      a client finished the WebSocket handshake.
##   * data_received(id)                   one message from client `id` is ready:
##                                         get_peer(id).get_packet() reads it.
##   * client_close_request(id, code, reason)  the client started closing the connection.
##   * client_disconnected(id, was_clean_close) the client is gone (exactly once per client).
##   * get_peer(id) returns a WebSocketServerPeer (a PacketPeer): put_packet() sends to that
##     client; set_write_mode(WebSocketPeer.WRITE_MODE_TEXT) makes those text messages.

## Emitted after a chat line from `id` was relayed to the other clients.
signal message_relayed(id: int, text: String)
## Emitted for every line the server logs (also printed).
signal logged(line: String)

var server := WebSocketServer.new()
## Chat lines relayed so far (each counted once, however many clients received it).
var relayed_count := 0
## Deliveries: one per chat line per receiving client.
var delivered_count := 0
## Clients that disconnected, and how many of them closed cleanly.
var disconnected_count := 0
var clean_disconnects := 0
## When false, nothing is printed (the `logged` signal is still emitted).
var verbose := true


func _init() -> void:
	# Godot 3: _server.connect("client_connected", self, "_on_client_connected"), etc.
	server.client_connected.connect(_on_client_connected)
	server.client_disconnected.connect(_on_client_disconnected)
	server.client_close_request.connect(_on_client_close_request)
	server.data_received.connect(_on_data_received)


## Starts listening on `port` (0 = any free port). Returns OK or the error from listen().
func start(port: int = 0) -> Error:
	var err := server.listen(port)
	if err != OK:
		_log("could not listen on port %d: %s" % [port, error_string(err)])
		return err
	_log("listening on port %d" % server.get_local_port())
	return OK


## The port the server listens on (useful after start(0)), or 0.
func get_port() -> int:
	return server.get_local_port()


## Closes every connection at once (no signals follow) and stops listening.
func stop() -> void:
	if server.is_listening():
		server.stop()
		_log("stopped")


func _process(_delta: float) -> void:
	# The one call that makes everything happen: without poll() no signal is ever emitted.
	if server.is_listening():
		server.poll()


func _exit_tree() -> void:
	stop()


func _on_client_connected(id: int, protocol: String) -> void:
	_log("client %d connected from %s:%d%s" % [id, server.get_peer_address(id),
		server.get_peer_port(id), "" if protocol.is_empty() else " (protocol %s)" % protocol])
	# A chat speaks text: everything this server sends to the client goes out as text frames.
	var peer: WebSocketServerPeer = server.get_peer(id)
	peer.set_write_mode(WebSocketPeer.WRITE_MODE_TEXT)
	_send(id, "* welcome, you are client %d" % id)
	# Joined/left notices only tell about changes: a newcomer also needs to know who was there.
	var others := PackedStringArray()
	for other in server.get_peer_ids():
		var other_peer: WebSocketServerPeer = server.get_peer(other)
		if other != id and other_peer != null and other_peer.is_connected_to_host():
			others.append(str(other))
	if not others.is_empty():
		_send(id, "* peers: " + " ".join(others))
	broadcast("* %d joined" % id, id)


func _on_data_received(id: int) -> void:
	# One data_received per message: read exactly one packet.
	var peer: WebSocketServerPeer = server.get_peer(id)
	var packet := peer.get_packet()
	if not peer.was_string_packet():
		_log("client %d sent %d bytes of binary data; ignored (this chat is text only)" % [id, packet.size()])
		return
	var text := packet.get_string_from_utf8()
	_log("client %d says: %s" % [id, text])
	var receivers := broadcast("[%d] %s" % [id, text], id)
	relayed_count += 1
	delivered_count += receivers
	message_relayed.emit(id, text)


func _on_client_close_request(id: int, code: int, reason: String) -> void:
	# The server answers the close frame by itself; client_disconnected follows in a later poll().
	_log("client %d is closing (code %d, reason \"%s\")" % [id, code, reason])


func _on_client_disconnected(id: int, was_clean_close: bool) -> void:
	# During this handler has_peer(id) is still true: broadcast() must skip `id` itself.
	disconnected_count += 1
	if was_clean_close:
		clean_disconnects += 1
	_log("client %d disconnected (%s)" % [id, "clean" if was_clean_close else "NOT clean"])
	broadcast("* %d left" % id, id)


## Sends `text` to every connected client except `except_id`; returns how many got it.
func broadcast(text: String, except_id: int = 0) -> int:
	var count := 0
	for id in server.get_peer_ids():
		if id != except_id and _send(id, text):
			count += 1
	return count


## Sends `text` to one client, unless it is already closing; true when queued.
func _send(id: int, text: String) -> bool:
	var peer: WebSocketServerPeer = server.get_peer(id)
	if peer == null or not peer.is_connected_to_host():
		return false  # closing or gone: nothing can be sent to it any more
	return peer.put_packet(text.to_utf8_buffer()) == OK


func _log(line: String) -> void:
	if verbose:
		print("[server] ", line)
	logged.emit(line)
