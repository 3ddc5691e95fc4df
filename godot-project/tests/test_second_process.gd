extends "res://tests/lib/test_base.gd"
## The server runs here; the client is Godot's WebSocketPeer in a SECOND Godot process
## (tests/clients/echo_client.gd). The server echoes 20 texts and a 10,000-byte binary message,
## receives them in order with their text/binary kind, gets the client's "verdict:ok", then sees
## client_close_request(id, 1000, "finished") and client_disconnected(id, true), and the child
## process exits.

const EchoClient := preload("res://tests/clients/echo_client.gd")
const CLIENT_SCRIPT := "res://tests/clients/echo_client.gd"

# Lambdas capture locals by value: state the handlers change lives in members.
var connected: Array = []  # [id, protocol, address]
var received: Array = []  # [id, PackedByteArray, was_string]
var close_requests: Array = []  # [id, code, reason]
var disconnects: Array = []  # [id, was_clean_close]
var handler_errors := PackedStringArray()


func run_tests() -> void:
	var server := start_server()
	var port := server.get_local_port()
	if not check(port > 0, "get_local_port() after listen(0)"):
		return
	server.client_connected.connect(func(id, protocol):
		connected.append([id, protocol, server.get_peer_address(id)]))
	server.client_close_request.connect(func(id, code, reason): close_requests.append([id, code, reason]))
	server.client_disconnected.connect(func(id, clean): disconnects.append([id, clean]))
	server.data_received.connect(func(id):
		var peer: WebSocketServerPeer = server.get_peer(id)
		if peer == null:
			handler_errors.append("data_received(%d): get_peer() returned null" % id)
			return
		var data := peer.get_packet()
		var was_string := peer.was_string_packet()
		received.append([id, data, was_string])
		# "verdict:..." and "done" come right before the client's close frame, which the server
		# answers on its network thread: by now sending may already be refused. Not echoed.
		if was_string and (data.get_string_from_utf8() == "done" or data.get_string_from_utf8().begins_with("verdict:")):
			return
		# Echo with the same kind: text as text, binary as binary.
		peer.set_write_mode(WebSocketPeer.WRITE_MODE_TEXT if was_string else WebSocketPeer.WRITE_MODE_BINARY)
		var err := peer.put_packet(data)
		if err != OK:
			handler_errors.append("echo put_packet() returned %s" % error_string(err)))

	var args := PackedStringArray(["--headless", "--path", ProjectSettings.globalize_path("res://"),
		"--script", CLIENT_SCRIPT, "--", str(port)])
	var pid := OS.create_process(OS.get_executable_path(), args)
	if not check(pid > 0, "OS.create_process() started the client process (pid %d)" % pid):
		return
	print("started client process %d: %s %s" % [pid, OS.get_executable_path(), " ".join(args)])

	await wait_until(func(): return connected.size() >= 1, "client_connected from the second process", 15.0)
	await wait_until(func(): return disconnects.size() >= 1, "client_disconnected from the second process", 40.0)
	var exited := await wait_until(func(): return not OS.is_process_running(pid),
		"the client process %d to exit" % pid, 10.0)
	if not exited:
		OS.kill(pid)
	await wait_seconds(0.2)  # catch duplicate signals

	check_eq(handler_errors, PackedStringArray(), "errors in the echo handler")
	if not check_eq(connected.size(), 1, "client_connected signals"):
		return
	var id: int = connected[0][0]
	check(id >= 2, "peer id %d >= 2" % id)
	check_eq(connected[0][1], "", "negotiated protocol")
	check_eq(connected[0][2], "127.0.0.1", "get_peer_address() during client_connected")

	# Everything arrived from that peer, in order, with its kind.
	var expected: Array = []
	for i in range(1, EchoClient.PINGS + 1):
		expected.append(_show_message("ping %d" % i, true))
	expected.append(_show_message(EchoClient.binary_payload(), false))
	expected.append(_show_message("verdict:ok", true))
	expected.append(_show_message("done", true))
	var got: Array = []
	var verdict := "(no verdict message)"
	var wrong_sender := 0
	for r in received:
		if r[0] != id:
			wrong_sender += 1
		var text: String = r[1].get_string_from_utf8() if r[2] else ""
		if text.begins_with("verdict:"):
			verdict = text
		got.append(_show_message(text if r[2] else r[1], r[2]))
	check_eq(verdict, "verdict:ok", "the client's own verdict on the echoes")
	check_eq(wrong_sender, 0, "messages from an id other than the client's")
	check_eq(got, expected, "messages received by the server, in order")
	var binary_ok: bool = received.size() > EchoClient.PINGS and received[EchoClient.PINGS][1] == EchoClient.binary_payload()
	check(binary_ok, "the 10,000-byte binary message arrived byte for byte")

	check_eq(close_requests, [[id, 1000, "finished"]], "client_close_request(id, code, reason)")
	check_eq(disconnects, [[id, true]], "client_disconnected(id, was_clean_close)")
	check(not server.has_peer(id), "has_peer(id) is false after client_disconnected")
	check_eq(server.get_peer_ids().size(), 0, "get_peer_ids() after the client left")
	check(exited, "the client process exited by itself")


## A readable, comparable description of one message.
func _show_message(data, is_text: bool) -> String:
	if is_text:
		return "text \"%s\"" % data
	var bytes: PackedByteArray = data
	return "binary %d bytes sha256 %s" % [bytes.size(), _sha256(bytes)]


func _sha256(bytes: PackedByteArray) -> String:
	var ctx := HashingContext.new()
	ctx.start(HashingContext.HASH_SHA256)
	ctx.update(bytes)
	return ctx.finish().hex_encode()
