extends Node
## What a `body` snippet run by the server and wss drivers starts with: `server`, a new
## WebSocketServer, polled every frame as a script's _process() would poll it.

var server := WebSocketServer.new()


func _process(_delta: float) -> void:
	server.poll()
