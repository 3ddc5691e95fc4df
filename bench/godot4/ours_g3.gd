extends "res://bench_base.gd"
## Our WebSocketServer (release build) driven the way Godot 3 scripts are written: data_received(id)
## is connected to a handler that fetches the peer and drains it, echoing each packet from inside
## the signal handler. Typed GDScript (ours_g3_untyped.gd is the same without types).
## Broadcast: a loop over get_peer_ids().

var server: Object  # WebSocketServer (Object so that this script parses even without the extension)


func _start(port: int) -> int:
	if not _require_extension():
		return -2
	server = ClassDB.instantiate("WebSocketServer")
	server.bind_ip = "127.0.0.1"
	if raise_buffers:
		server.set_buffers(BUFFER_BYTES / 1024, BUFFER_PACKETS, BUFFER_BYTES / 1024, BUFFER_PACKETS)
	server.client_connected.connect(_on_connected)
	server.client_disconnected.connect(_on_disconnected)
	server.data_received.connect(_on_data)
	if use_tls:
		server.private_key = tls_key
		server.ssl_certificate = tls_cert
	if server.listen(port) != OK:
		return -1
	return server.get_local_port()


func _on_connected(_id: int, _protocol: String) -> void:
	peers += 1


func _on_disconnected(_id: int, _clean: bool) -> void:
	peers -= 1


func _on_data(id: int) -> void:
	var p: PacketPeer = server.get_peer(id)
	while p.get_available_packet_count() > 0:
		if echo:
			if p.put_packet(p.get_packet()) != OK:
				send_errors += 1
		else:
			_control(p.get_packet())


func _work() -> void:
	server.poll()


func _broadcast(m: PackedByteArray) -> void:
	for id in server.get_peer_ids():
		var p: PacketPeer = server.get_peer(id)
		if p.put_packet(m) != OK:
			send_errors += 1
