extends Node
## A chat bot for demo/chat_server.gd: a script that "types" into demo/chat_client.gd, the client
## the chat scene uses (on Godot 4's own WebSocketPeer).
##
## It connects to `url`, learns its id from the server's welcome notice, and when start_talking()
## is called says its `lines` one by one with `delay_s` between them. It prints everything it
## receives. After its last line it waits until it has heard `hear_before_leaving` chat lines
## from the others (at most `patience_s` seconds), then closes cleanly (1000, "bye") and emits
## `finished`.
##
## Waiting for start_talking() and for the others' lines is what keeps a short demo
## deterministic: nobody talks before everyone is in, nobody leaves before hearing everyone.

const ChatClient := preload("res://demo/chat_client.gd")

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

## The connection: the same client the chat scene's "Join" button uses.
var client: Node = ChatClient.new()
var _talk_requested := false


func _ready() -> void:
	client.name = "ChatClient"
	add_child(client)
	client.line_received.connect(_on_line_received)
	client.closed.connect(_on_closed)
	var err: Error = client.open(url)
	if err != OK:
		_end("open(%s) failed: %s" % [url, error_string(err)])
		return
	_run()


## Lets the bot say its lines (once connected).
func start_talking() -> void:
	_talk_requested = true


## Whether the connection is open (the bot may not have its id yet).
func is_open() -> bool:
	return client.is_open()


func _on_line_received(text: String) -> void:
	received.append(text)
	_say("got: " + text)
	my_id = client.my_id
	if text.begins_with("["):
		chat_lines.append(text)


func _on_closed(code: int, reason: String) -> void:
	close_code = code
	if code == 1000:
		_end("")
	else:
		_end("connection closed: code %d, reason \"%s\"" % [code, reason])


## The bot's life as one coroutine: wait, talk, listen, leave.
func _run() -> void:
	while not (_talk_requested and is_open()):
		if is_finished:
			return
		await get_tree().process_frame
	for line in lines:
		await get_tree().create_timer(delay_s).timeout
		if not is_open():
			return  # _on_closed() reports how the connection ended
		_say("says: " + line)
		client.send_line(line)
	var deadline := Time.get_ticks_msec() + int(patience_s * 1000.0)
	while chat_lines.size() < hear_before_leaving and is_open():
		if Time.get_ticks_msec() > deadline:
			_say("heard only %d of %d lines after %.0f s; leaving anyway" % [chat_lines.size(),
				hear_before_leaving, patience_s])
			break
		await get_tree().process_frame
	if is_open():
		_say("leaving")
		client.close(1000, "bye")


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
