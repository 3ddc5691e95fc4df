extends Node
## What the certificate-renewal snippet (members) starts with: `server`, a WebSocketServer polled
## every frame; the tls_update driver makes it listen on wss:// with a first certificate.

var server := WebSocketServer.new()


func _process(_delta: float) -> void:
	server.poll()
