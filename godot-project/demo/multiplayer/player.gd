extends Node2D
## One player of the multiplayer demo (demo/multiplayer/player.tscn): a coloured disc with its
## name, drawn in _draw() so the demo needs no image assets.
##
## The node's multiplayer authority is its own peer (set by the spawn function in
## multiplayer_demo.gd before the node enters the tree, on every peer alike): that peer moves it,
## and the MultiplayerSynchronizer in player.tscn sends `position` to the server, which applies it
## and relays it to every other client. wave() is an RPC the owner calls on everyone.
##
## Why the owner moves its player instead of sending its input to the server: a key press moves
## the player at once on every peer's screen but one round trip later, never two, and the whole
## of the networking is one synchronizer and one RPC. The server trusts the positions it gets,
## which suits a friendly game; a competitive one would send the input (an RPC, or a synchronizer
## owned by the client) and let the server move everyone, at the cost of a round trip of lag on
## the player's own screen.
##
## The position is replicated ON_CHANGE (delta updates, sent reliably and only when it moved)
## rather than ALWAYS: an idle player costs nothing, and the last position always arrives.

## The owner waved (on every peer, the owner's included).
signal waved(player: Node2D)

const RADIUS := 22.0
## Pixels per second, in arena coordinates.
const SPEED := 260.0
const WAVE_SHOW_S := 3.0

## Set by the spawn function from the server's spawn data, identical on every peer.
var peer_id := 0
var player_name := ""
var color := Color.WHITE

var _facing := Vector2.RIGHT
var _last_position := Vector2.ZERO
var _wave_left_s := 0.0

@onready var _name_label: Label = $NameLabel
@onready var _bubble: Label = $Bubble


func _ready() -> void:
	_name_label.text = player_name
	_last_position = position
	# The local player is drawn over the others.
	z_index = 1 if is_local() else 0


## True on the peer that controls this player.
func is_local() -> bool:
	return multiplayer.has_multiplayer_peer() and peer_id == multiplayer.get_unique_id()


## Moves by `direction` (length at most 1) for `delta` seconds, kept inside `bounds`.
func step(direction: Vector2, delta: float, bounds: Rect2) -> void:
	var inner := bounds.grow(-RADIUS)
	position = (position + direction.limit_length(1.0) * SPEED * delta).clamp(inner.position, inner.end)


## Moves toward `target` at SPEED for `delta` seconds; true once exactly there.
func walk_to(target: Vector2, delta: float) -> bool:
	position = position.move_toward(target, SPEED * delta)
	return position == target


## Only the owner may call it (rpc "authority"); the server relays it to the other clients.
@rpc("authority", "call_local", "reliable")
func wave() -> void:
	_wave_left_s = WAVE_SHOW_S
	_bubble.visible = true
	waved.emit(self)


func is_waving() -> bool:
	return _bubble.visible


func _process(delta: float) -> void:
	# Remote players move by replication: the face follows whatever changed the position.
	if position != _last_position:
		_facing = (position - _last_position).normalized()
		_last_position = position
		queue_redraw()
	if _wave_left_s > 0.0:
		_wave_left_s -= delta
		if _wave_left_s <= 0.0:
			_bubble.visible = false


func _draw() -> void:
	draw_circle(Vector2(2, 4), RADIUS, Color(0, 0, 0, 0.35))
	draw_circle(Vector2.ZERO, RADIUS, color)
	draw_arc(Vector2.ZERO, RADIUS - 1.0, 0.0, TAU, 48, color.darkened(0.45), 3.0, true)
	if is_local():
		draw_arc(Vector2.ZERO, RADIUS + 5.0, 0.0, TAU, 48, Color(1, 1, 1, 0.9), 2.0, true)
	# Two eyes looking where the player last went.
	var side := _facing.orthogonal() * 7.0
	var ahead := _facing * 7.0
	for eye in [ahead + side, ahead - side]:
		draw_circle(eye, 5.0, Color.WHITE)
		draw_circle(eye + _facing * 2.0, 2.5, Color(0.1, 0.1, 0.12))
