extends Node
## The client side of the chat demo, on Godot 4's own WebSocketPeer: what the chat scene's "Join"
## button uses, what the headless bots use, and what a game client would write. It speaks the
## protocol of demo/chat_server.gd (text messages):
##   "* welcome, you are client 12345"   this client's id
##   "* peers: 1 2 3"                    who else is there (sent right after the welcome)
##   "* 12345 joined" / "* 12345 left"   someone came or went
##   "[12345] hello"                     a chat line from client 12345
##
## Usage:
##   var client = preload("res://demo/chat_client.gd").new()
##   add_child(client)                       # it polls its WebSocketPeer in _process()
##   client.line_received.connect(func(text): print(text))
##   client.open("ws://127.0.0.1:9080")
##   client.send_line("hello")               # once `opened` was emitted

## The WebSocket handshake finished: send_line() works from now on.
signal opened
## A message from the server (a chat line or a notice), in arrival order.
signal line_received(text: String)
## `my_id` or `peer_ids` changed.
signal peers_changed
## The connection is gone: `code` is the close code (1000 = a clean close by either side; -1 =
## the connection failed or was dropped without a close frame).
signal closed(code: int, reason: String)

## This client's id, from the welcome notice; 0 until then.
var my_id := 0
## The ids of everyone in the chat, this client included, in the order they became known.
var peer_ids: Array[int] = []

var _ws := WebSocketPeer.new()
var _state := WebSocketPeer.STATE_CLOSED


## Connects to `url` ("ws://host:port" or "wss://..."). Returns the error of connect_to_url().
func open(url: String) -> Error:
	if _state != WebSocketPeer.STATE_CLOSED:
		return ERR_ALREADY_IN_USE
	_ws = WebSocketPeer.new()
	# The chat server relays everyone's lines: a larger inbound buffer than the 64 KiB default
	# keeps a burst of lines from overflowing it while a frame is slow.
	_ws.inbound_buffer_size = 1 << 20
	my_id = 0
	peer_ids.clear()
	var err := _ws.connect_to_url(url)
	if err == OK:
		_state = WebSocketPeer.STATE_CONNECTING
	return err


## Sends one chat line. ERR_UNCONFIGURED unless the connection is open.
func send_line(text: String) -> Error:
	if not is_open():
		return ERR_UNCONFIGURED
	return _ws.send_text(text)


## Starts the closing handshake; `closed` follows once the server answered.
func close(code: int = 1000, reason: String = "") -> void:
	if _state == WebSocketPeer.STATE_OPEN or _state == WebSocketPeer.STATE_CONNECTING:
		_ws.close(code, reason)


func is_open() -> bool:
	return _state == WebSocketPeer.STATE_OPEN


## True while connecting, open or closing: open() would be refused.
func is_active() -> bool:
	return _state != WebSocketPeer.STATE_CLOSED


func _process(_delta: float) -> void:
	if _state == WebSocketPeer.STATE_CLOSED:
		return
	# WebSocketPeer does nothing by itself: poll() reads the socket and moves the state on.
	_ws.poll()
	var state := _ws.get_ready_state()
	if state == WebSocketPeer.STATE_OPEN and _state == WebSocketPeer.STATE_CONNECTING:
		_state = state
		opened.emit()
	while _ws.get_available_packet_count() > 0:
		_on_line(_ws.get_packet().get_string_from_utf8())
	if state == WebSocketPeer.STATE_CLOSED:
		_state = state
		closed.emit(_ws.get_close_code(), _ws.get_close_reason())
	elif state == WebSocketPeer.STATE_CLOSING:
		_state = state


func _exit_tree() -> void:
	# Leaving the tree without a close would leave the server waiting for a TCP timeout.
	if is_active():
		_ws.close(1001, "client closed")


func _on_line(text: String) -> void:
	if text.begins_with("* welcome, you are client "):
		my_id = int(text.get_slice("client ", 1))
		_add_peer(my_id)
		peers_changed.emit()
	elif text.begins_with("* peers:"):
		for id_text in text.trim_prefix("* peers:").split(" ", false):
			_add_peer(int(id_text))
		peers_changed.emit()
	elif text.begins_with("* ") and text.ends_with(" joined"):
		_add_peer(int(text.get_slice(" ", 1)))
		peers_changed.emit()
	elif text.begins_with("* ") and text.ends_with(" left"):
		peer_ids.erase(int(text.get_slice(" ", 1)))
		peers_changed.emit()
	line_received.emit(text)


func _add_peer(id: int) -> void:
	if id != 0 and not peer_ids.has(id):
		peer_ids.append(id)
