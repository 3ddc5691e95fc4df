extends Node
## What the shared-scripts snippet leaves to the rest of its script (the whole example is
## demo/shared_scripts/network.gd): `_on_data`, which answers every text with "echo: " + text, and
## polling the server every frame. Like the snippet it names no class of the addon, so it also
## loads where the addon is absent, as in a Web export.

## [id, text] of every message the server got.
var received: Array = []


func _process(_delta: float) -> void:
	var server = get("server")
	if server != null:
		server.poll()


func _on_data(id: int) -> void:
	var peer = get("server").get_peer(id)
	var text: String = peer.get_packet().get_string_from_utf8()
	received.append([id, text])
	peer.send_text("echo: " + text)
