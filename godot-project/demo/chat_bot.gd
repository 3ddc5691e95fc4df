extends Node
## A chat bot for demo/chat_server.gd, built on Godot 4's own WebSocketPeer (the client class).
##
## It connects to `url`, learns its id from the server's welcome notice, and when start_talking()
## is called says its `lines` one by one with `delay_s` between them. It prints everything it
## receives. After its last line it waits until it has heard `hear_before_leaving` chat lines
## from the others (at most `patience_s` seconds), then closes cleanly (1000, "bye") and emits
## `finished`.
##
## Waiting for start_talking() and for the others' lines is what keeps a short demo
## deterministic: nobody talks before everyone is in, nobody leaves before hearing everyone.

## Emitted once the connection is closed (cleanly or not); see `close_code` and `error`.
signal finished

@export var bot_name := "Bot"
@export var url := "ws://127.0.0.1:9080"
@export var lines := PackedStringArray(["Hello!"])
@export var delay_s := 0.2
@export var hear_before_leaving := 0
@export var patience_s := 10.0
## When false, nothing is printed.
@export var verbose := true

## The id the server gave this bot (from "* welcome, you are client N"), or 0.
var my_id := 0
## Every text received, in order.
var received := PackedStringArray()
## Only the relayed chat lines ("[id] text"), in order.
var chat_lines := PackedStringArray()
## The close code the bot's WebSocketPeer reported at the end (-1 until closed).
var close_code := -1
## What went wrong, or "".
var error := ""
var is_finished := false

var _ws := WebSocketPeer.new()
var _talk_requested := false


func _ready() -> void:
	var err := _ws.connect_to_url(url)
	if err != OK:
		_end("connect_to_url(%s) failed: %s" % [url, error_string(err)])
		return
	_run()


## Lets the bot say its lines (once connected).
func start_talking() -> void:
	_talk_requested = true


## Whether the connection is open (the bot may not have its id yet).
func is_open() -> bool:
	return _ws.get_ready_state() == WebSocketPeer.STATE_OPEN


func _process(_delta: float) -> void:
	# Godot 4's WebSocketPeer must be polled too: that reads the socket and updates the state.
	_ws.poll()
	while _ws.get_available_packet_count() > 0:
		var text := _ws.get_packet().get_string_from_utf8()
		received.append(text)
		_say("got: " + text)
		if text.begins_with("* welcome, you are client "):
			my_id = int(text.get_slice("client ", 1))
		elif text.begins_with("["):
			chat_lines.append(text)
	if not is_finished and _ws.get_ready_state() == WebSocketPeer.STATE_CLOSED:
		close_code = _ws.get_close_code()
		if close_code == 1000:
			_end("")
		else:
			_end("connection closed: code %d, reason \"%s\"" % [close_code, _ws.get_close_reason()])


## The bot's life as one coroutine: wait, talk, listen, leave.
func _run() -> void:
	while not (_talk_requested and is_open()):
		if is_finished:
			return
		await get_tree().process_frame
	for line in lines:
		await get_tree().create_timer(delay_s).timeout
		if not is_open():
			return  # _process() reports how the connection ended
		_say("says: " + line)
		_ws.send_text(line)
	var deadline := Time.get_ticks_msec() + int(patience_s * 1000.0)
	while chat_lines.size() < hear_before_leaving and is_open():
		if Time.get_ticks_msec() > deadline:
			_say("heard only %d of %d lines after %.0f s; leaving anyway" % [chat_lines.size(),
				hear_before_leaving, patience_s])
			break
		await get_tree().process_frame
	if is_open():
		_say("leaving")
		_ws.close(1000, "bye")


func _end(why: String) -> void:
	if is_finished:
		return
	is_finished = true
	error = why
	if why.is_empty():
		_say("disconnected cleanly")
	else:
		_say("ERROR: " + why)
	finished.emit()


func _say(text: String) -> void:
	if verbose:
		print("[bot %s] %s" % [bot_name, text])
