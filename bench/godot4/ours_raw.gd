extends "res://bench_base.gd"
## Our WebSocketServer (this repository's extension, release build) in raw mode.
## data_received(id) marks the peer as pending; each frame poll() is followed by draining every
## pending peer with get_available_packet_count()/get_packet()/put_packet().
## Broadcast: a loop over get_peer_ids().

var server  # WebSocketServer (untyped so that this script parses even without the extension)
var _pending := {}  # peer id -> true: peers that signalled data_received this frame (deduplicated)


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
	_pending[id] = true


func _work() -> void:
	server.poll()
	if _pending.is_empty():
		return
	for id in _pending:
		if not server.has_peer(id):
			continue
		var peer: PacketPeer = server.get_peer(id)
		while peer.get_available_packet_count() > 0:
			var p := peer.get_packet()
			if echo:
				if peer.put_packet(p) != OK:
					send_errors += 1
			else:
				_control(p)
	_pending.clear()


func _broadcast(m: PackedByteArray) -> void:
	for id in server.get_peer_ids():
		var peer: PacketPeer = server.get_peer(id)
		if peer.put_packet(m) != OK:
			send_errors += 1
