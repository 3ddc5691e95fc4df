extends "res://tests/lib/test_base.gd"
## The chat scene (demo/chat_demo.tscn, the project's main scene) driven through its controls, as
## a user would: one instance hosts with the Host button, a second joins with the URL field and the
## Join button; lines typed into the input line reach the other window (markup shown as text), the
## peer lists follow joins and leaves, the host serves the browser page, Leave ends it all.

const ChatDemo := preload("res://demo/chat_demo.tscn")

var host_lines := PackedStringArray()
var guest_lines := PackedStringArray()


func run_tests() -> void:
	check_eq(ProjectSettings.get_setting("application/run/main_scene"), "res://demo/chat_demo.tscn",
		"the chat scene is the main scene (F5 runs it)")
	var host: Control = ChatDemo.instantiate()
	var guest: Control = ChatDemo.instantiate()
	root.add_child(host)
	root.add_child(guest)
	host.logged.connect(func(line): host_lines.append(line))
	guest.logged.connect(func(line): guest_lines.append(line))
	await process_frame

	# Host: the port field and the Host button.
	var port := _free_port()
	host.get_node("%Port").value = port
	host.get_node("%HostButton").pressed.emit()
	check(host.chat_server != null and host.chat_server.server.is_listening(), "Host started the chat server")
	check_eq(host.chat_server.get_port(), port, "the chat server listens on the port field's port")
	await wait_until(func(): return host.client.my_id != 0, "the host to join its own chat")
	check_eq(host.get_node("%Status").text, "Hosting on port %d" % port, "host status line")
	check(host.get_node("%HostButton").disabled and host.get_node("%JoinButton").disabled,
		"Host and Join are disabled while hosting")
	check_eq(_peer_items(host), ["client %d (you)" % host.client.my_id], "host's peer list: itself")

	# The browser page: served by the host on the next port, linked in the log.
	check(host.page_server != null, "the host serves the browser page")
	if host.page_server != null:
		var page_url: String = host.page_server.get_url()
		check(_has_line(host_lines, page_url), "the log links the browser page (%s)" % page_url)
		check(page_url.contains("ws=%d" % port), "the page link names the chat server's port")
		var reply := await _http_get(host.page_server.get_port(), "/")
		check(reply.begins_with("HTTP/1.1 200"), "GET / on the page server answers 200 (got %s)" % reply.get_slice("\r\n", 0))
		check(reply.contains("<html") or reply.contains("<!DOCTYPE html") or reply.contains("<!doctype html"),
			"the page server sends the chat page")

	# Guest: the URL field and the Join button.
	guest.get_node("%Url").text = "ws://127.0.0.1:%d" % port
	guest.get_node("%JoinButton").pressed.emit()
	await wait_until(func(): return guest.client.my_id != 0, "the guest to get its id")
	await wait_until(func(): return _peer_items(host).size() == 2 and _peer_items(guest).size() == 2,
		"both peer lists to show two people")
	var host_id: int = host.client.my_id
	var guest_id: int = guest.client.my_id
	check_eq(_peer_items(guest), ["client %d (you)" % guest_id, "client %d" % host_id],
		"guest's peer list: itself, then the host (from the peers notice)")
	check_eq(_peer_items(host), ["client %d (you)" % host_id, "client %d" % guest_id],
		"host's peer list: itself, then the guest")
	check(not guest.get_node("%SendButton").disabled, "Send is enabled once connected")

	# Typing: Enter in the input line sends; the other window shows it, markup as plain text.
	var guest_input: LineEdit = guest.get_node("%Input")
	guest_input.text = "hello from the guest [b]not bold[/b]"
	guest_input.text_submitted.emit(guest_input.text)
	check_eq(guest_input.text, "", "the input line is cleared after sending")
	await wait_until(func(): return _log_text(host).contains("client %d: hello from the guest [b]not bold[/b]" % guest_id),
		"the host's log to show the guest's line, markup as text")
	check(_log_text(guest).contains("client %d: hello from the guest" % guest_id), "the guest's log shows its own line")
	var host_input: LineEdit = host.get_node("%Input")
	host_input.text = "hi guest ✓"
	host.get_node("%SendButton").pressed.emit()
	await wait_until(func(): return _log_text(guest).contains("client %d: hi guest ✓" % host_id),
		"the guest's log to show the host's line")
	check_eq(host.send_message("   "), ERR_INVALID_PARAMETER, "an empty line is not sent")

	# Leave: the guest goes, the host's list shrinks and its log says so.
	guest.get_node("%LeaveButton").pressed.emit()
	await wait_until(func(): return _peer_items(host).size() == 1, "the host's peer list to drop the guest")
	await wait_until(func(): return not guest.client.is_active(), "the guest's connection to close")
	check(_log_text(guest).contains("Connection closed cleanly."), "the guest's log says it closed cleanly")
	check(_log_text(host).contains("%d left" % guest_id), "the host's log says the guest left")
	check(not guest.get_node("%JoinButton").disabled, "Join is enabled again after leaving")

	# The host leaves: server and page server stop.
	var server: WebSocketServer = host.chat_server.server
	host.get_node("%LeaveButton").pressed.emit()
	check(not server.is_listening(), "Leave stopped the host's server")
	check(host.chat_server == null and host.page_server == null, "the host's servers are gone")
	await wait_until(func(): return not host.client.is_active(), "the host's connection to close")
	host.queue_free()
	guest.queue_free()
	await process_frame


func _peer_items(scene: Control) -> Array:
	var list: ItemList = scene.get_node("%Peers")
	var items := []
	for i in list.item_count:
		items.append(list.get_item_text(i))
	return items


func _log_text(scene: Control) -> String:
	return (scene.get_node("%Log") as RichTextLabel).get_parsed_text()


func _has_line(lines: PackedStringArray, needle: String) -> bool:
	for line in lines:
		if line.contains(needle):
			return true
	return false


func _free_port() -> int:
	var probe := TCPServer.new()
	probe.listen(0, "127.0.0.1")
	var port := probe.get_local_port()
	probe.stop()
	return port


## A raw HTTP/1.1 GET: the whole reply (headers and body) as text, or "" after 5 s.
func _http_get(port: int, path: String) -> String:
	var tcp := StreamPeerTCP.new()
	if tcp.connect_to_host("127.0.0.1", port) != OK:
		return ""
	var deadline := Time.get_ticks_msec() + 5000
	var sent := false
	var reply := PackedByteArray()
	while Time.get_ticks_msec() < deadline:
		tcp.poll()
		var status := tcp.get_status()
		if status == StreamPeerTCP.STATUS_CONNECTED:
			if not sent:
				tcp.put_data(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).to_utf8_buffer())
				sent = true
			var available := tcp.get_available_bytes()
			if available > 0:
				reply.append_array(tcp.get_data(available)[1])
		elif status != StreamPeerTCP.STATUS_CONNECTING:
			break  # the server closed the connection: the reply is complete
		await process_frame
	return reply.get_string_from_utf8()
