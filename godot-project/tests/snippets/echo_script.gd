extends "res://tests/snippets/snippet_harness.gd"
## `script` snippets that are WebSocket servers answering text messages: the script runs as a node
## under the root; Godot's WebSocketPeer connects to the first port the block names (the one it
## listens on), sends a text message, must get back a text message that contains it, then closes
## with code 1000 and sees the closing handshake complete (so the script's disconnect handler runs).

const MESSAGE := "hello from the docs check"


func drive() -> void:
	var node := add_snippet(root, "Snippet")
	if node == null:
		return
	if not check(not ports().is_empty(), "the block names the port it listens on"):
		return
	var url := "ws://127.0.0.1:%d" % ports()[0]
	var client := await connect_client(url)
	if not check_eq(client.get_ready_state(), WebSocketPeer.STATE_OPEN, "the client's connection to %s is open" % url):
		return
	check_eq(client.send_text(MESSAGE), OK, "the client's send_text()")
	if await wait_until(func(): return client.get_available_packet_count() > 0, "the reply"):
		var reply := client.get_packet().get_string_from_utf8()
		check(client.was_string_packet(), "the reply is a text message")
		check(reply.contains(MESSAGE), "the reply \"%s\" contains the message sent" % reply)
	client.close(1000)
	if await wait_until(func(): return client.get_ready_state() == WebSocketPeer.STATE_CLOSED, "the client's close to complete"):
		check_eq(client.get_close_code(), 1000, "the close code the client sees")
	stop_polling(client)
