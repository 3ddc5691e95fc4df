extends "res://bench_base.gd"
## ours_g3.gd without static types, as most Godot 3 scripts were written: data_received(id) is
## connected to a handler that fetches the peer and drains it, echoing each packet.

var server


func _start(port):
	if not _require_extension():
		return -2
	server = ClassDB.instantiate("WebSocketServer")
	server.bind_ip = "127.0.0.1"
	if raise_buffers:
		server.set_buffers(BUFFER_BYTES / 1024, BUFFER_PACKETS, BUFFER_BYTES / 1024, BUFFER_PACKETS)
	server.connect("client_connected", _on_connected)
	server.connect("client_disconnected", _on_disconnected)
	server.connect("data_received", _on_data)
	if use_tls:
		server.private_key = tls_key
		server.ssl_certificate = tls_cert
	if server.listen(port) != OK:
		return -1
	return server.get_local_port()


func _on_connected(_id, _protocol):
	peers += 1


func _on_disconnected(_id, _clean):
	peers -= 1


func _on_data(id):
	var p = server.get_peer(id)
	while p.get_available_packet_count() > 0:
		if echo:
			if p.put_packet(p.get_packet()) != OK:
				send_errors += 1
		else:
			_control(p.get_packet())


func _work():
	server.poll()


func _broadcast(m):
	for id in server.get_peer_ids():
		var p = server.get_peer(id)
		if p.put_packet(m) != OK:
			send_errors += 1
