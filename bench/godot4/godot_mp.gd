extends "res://bench_base.gd"
## Godot 4's own WebSocketMultiplayerPeer.create_server(), driven through the MultiplayerPeer API
## exactly like ours_mp.gd. Default buffers (inbound/outbound 65535 B, 2048 queued packets);
## --raise-buffers sets inbound_buffer_size = outbound_buffer_size = 1 MiB and
## max_queued_packets = 4096. --tls: create_server(..., TLSOptions.server(key, cert)).
## WebSocketMultiplayerPeer cannot report the port it bound: with --port 0 a random free port is
## tried until create_server() succeeds.

var server: MultiplayerPeer


func _start(port: int) -> int:
	var s := WebSocketMultiplayerPeer.new()
	if raise_buffers:
		s.inbound_buffer_size = BUFFER_BYTES
		s.outbound_buffer_size = BUFFER_BYTES
		s.max_queued_packets = BUFFER_PACKETS
	var chosen := port
	var attempts := 1 if port != 0 else 50
	var err := FAILED
	var tls: TLSOptions = TLSOptions.server(tls_key, tls_cert) if use_tls else null
	for i in attempts:
		if port == 0:
			chosen = randi_range(20000, 60000)
		err = s.create_server(chosen, "127.0.0.1", tls)
		if err == OK:
			break
	if err != OK:
		return -1
	server = s
	server.peer_connected.connect(_on_connected)
	server.peer_disconnected.connect(_on_disconnected)
	return chosen


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
