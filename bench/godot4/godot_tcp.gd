extends "res://bench_base.gd"
## Godot 4's TCPServer + WebSocketPeer.accept_stream() per connection: the server Godot 4 users
## write by hand. Every frame: take the new TCP connections, poll() every peer (the handshake
## ones and the open ones) and drain each open peer with the same loop as the other servers.
## Default WebSocketPeer buffers (inbound/outbound 65535 B, 4096 queued packets); --raise-buffers
## sets inbound_buffer_size = outbound_buffer_size = 1 MiB, max_queued_packets = 4096.
## No --tls (the wss scenarios leave this server out).
## Broadcast: put_packet() on every open peer.

var tcp := TCPServer.new()
var _handshaking: Array[WebSocketPeer] = []
var _open: Array[WebSocketPeer] = []
var _closed := false


func _start(port: int) -> int:
	if use_tls:
		_fail(2, "godot_tcp.gd has no --tls")
		return -2
	if tcp.listen(port, "127.0.0.1") != OK:
		return -1
	return tcp.get_local_port()


func _work() -> void:
	while tcp.is_connection_available():
		var ws := WebSocketPeer.new()
		if raise_buffers:
			ws.inbound_buffer_size = BUFFER_BYTES
			ws.outbound_buffer_size = BUFFER_BYTES
			ws.max_queued_packets = BUFFER_PACKETS
		if ws.accept_stream(tcp.take_connection()) == OK:
			_handshaking.append(ws)
	if not _handshaking.is_empty():
		var still: Array[WebSocketPeer] = []
		for ws in _handshaking:
			ws.poll()
			var state := ws.get_ready_state()
			if state == WebSocketPeer.STATE_OPEN:
				_open.append(ws)
				peers += 1
			elif state == WebSocketPeer.STATE_CONNECTING:
				still.append(ws)
		_handshaking = still
	for ws in _open:
		ws.poll()
		while ws.get_available_packet_count() > 0:
			var p := ws.get_packet()
			if echo:
				if ws.put_packet(p) != OK:
					send_errors += 1
			else:
				_control(p)
		if ws.get_ready_state() == WebSocketPeer.STATE_CLOSED:
			_closed = true
	if _closed:
		_closed = false
		_open = _open.filter(func(w: WebSocketPeer) -> bool: return w.get_ready_state() != WebSocketPeer.STATE_CLOSED)
		peers = _open.size()


func _broadcast(m: PackedByteArray) -> void:
	for ws in _open:
		if ws.put_packet(m) != OK:
			send_errors += 1
