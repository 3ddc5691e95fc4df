extends Node
## The node of test_mp_protocol.gd, put under the server's and under each client's MultiplayerAPI
## root (one process, one SceneMultiplayer per side): a client calls ping(), the server answers
## pong() to the sender.

## [remote sender id, text] of every ping the server got / pong a client got.
var pings: Array = []
var pongs: Array = []


@rpc("any_peer", "call_remote", "reliable")
func ping(text: String) -> void:
	var sender := multiplayer.get_remote_sender_id()
	pings.append([sender, text])
	pong.rpc_id(sender, text.to_upper())


@rpc("authority", "call_remote", "reliable")
func pong(text: String) -> void:
	pongs.append([multiplayer.get_remote_sender_id(), text])
