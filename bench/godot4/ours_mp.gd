extends "res://bench_base.gd"
## Our WebSocketMultiplayerServer (this repository's extension, release build), driven through the MultiplayerPeer API exactly like godot_mp.gd.
## Broadcast: set_target_peer(0) and one put_packet().

var server: MultiplayerPeer


func _start(port: int) -> int:
	if not _require_extension():
		return -2
	var s = ClassDB.instantiate("WebSocketMultiplayerServer")
	s.bind_ip = "127.0.0.1"
	if raise_buffers:
		s.set_buffers(BUFFER_BYTES / 1024, BUFFER_PACKETS, BUFFER_BYTES / 1024, BUFFER_PACKETS)
	if use_tls:
		s.private_key = tls_key
		s.ssl_certificate = tls_cert
	if s.listen(port) != OK:
		return -1
	server = s
	server.peer_connected.connect(_on_connected)
	server.peer_disconnected.connect(_on_disconnected)
	return s.get_local_port()


func _on_connected(_id: int) -> void:
	peers += 1


func _on_disconnected(_id: int) -> void:
	peers -= 1


func _work() -> void:
	server.poll()
	while server.get_available_packet_count() > 0:
		var from := server.get_packet_peer()
		var p := server.get_packet()
		if echo:
			server.set_target_peer(from)
			if server.put_packet(p) != OK:
				send_errors += 1
		else:
			_control(p)


func _broadcast(m: PackedByteArray) -> void:
	server.set_target_peer(0)
	if server.put_packet(m) != OK:
		send_errors += 1
