extends Node
## The "player" of test_mp_replication.gd (tests/mp/player.tscn): its MultiplayerSynchronizer
## (configured in the .tscn) replicates `score` (ALWAYS) and `label` (ON_CHANGE).

@export var score := 0
@export var label := ""
