extends SceneTree
## A stock Godot 4 multiplayer client, run in its own process by the multiplayer tests. It uses
## only the engine's WebSocketMultiplayerPeer (nothing of the extension):
##
##   godot --headless --path P --script res://tests/mp/client_main.gd -- PORT NAME SCRIPT NODE [PROTOCOL]
##
## It puts a node with script SCRIPT at /root/NODE (the server has the same node at the same path,
## so RPCs and replication resolve), sets the node's `client_name` to NAME and joins
## ws://127.0.0.1:PORT (offering sub-protocol PROTOCOL when given). The node reports what it
## observes to the server by RPC; how the process ended is its exit code (below), which the test
## reads with OS.get_process_exit_code().

## The server went away after we had joined (disconnect_peer or the server's close()).
const EXIT_SERVER_DISCONNECTED := 20
## The connection was refused or failed before we had joined.
const EXIT_CONNECTION_FAILED := 21
## Safety net: nothing ended this client within LIFETIME_S seconds.
const EXIT_TIMEOUT := 22
## Bad command line, or create_client() failed.
const EXIT_BAD_START := 23
## The server asked this client to quit (the node calls quit_by_request()).
const EXIT_REQUESTED := 24

const LIFETIME_S := 40.0

var client_name := ""
var node: Node
var peer: WebSocketMultiplayerPeer
var ended := false


func _initialize() -> void:
	_start.call_deferred()


func _start() -> void:
	var args := OS.get_cmdline_user_args()
	if args.size() < 4 or not args[0].is_valid_int():
		printerr("client_main: usage: -- PORT NAME SCRIPT NODE [PROTOCOL]; got %s" % [args])
		quit(EXIT_BAD_START)
		return
	client_name = args[1]
	create_timer(LIFETIME_S).timeout.connect(_on_lifetime_over)
	var script: Script = load(args[2])
	node = script.new()
	node.name = args[3]
	node.client_name = client_name
	root.add_child(node)

	var multiplayer := get_multiplayer()
	multiplayer.connected_to_server.connect(_on_connected_to_server)
	multiplayer.connection_failed.connect(_on_connection_failed)
	multiplayer.server_disconnected.connect(_on_server_disconnected)
	peer = WebSocketMultiplayerPeer.new()
	if args.size() > 4:
		peer.supported_protocols = PackedStringArray([args[4]])
	var url := "ws://127.0.0.1:%d" % int(args[0])
	var err := peer.create_client(url)
	if err != OK:
		printerr("client %s: create_client(%s) failed: %s" % [client_name, url, error_string(err)])
		quit(EXIT_BAD_START)
		return
	multiplayer.multiplayer_peer = peer


func _on_connected_to_server() -> void:
	print("client %s: joined as %d" % [client_name, get_multiplayer().get_unique_id()])


func _on_connection_failed() -> void:
	print("client %s: connection failed" % client_name)
	_end(EXIT_CONNECTION_FAILED)


func _on_server_disconnected() -> void:
	print("client %s: server disconnected" % client_name)
	_end(EXIT_SERVER_DISCONNECTED)


func _on_lifetime_over() -> void:
	printerr("client %s: still running after %d s, giving up" % [client_name, LIFETIME_S])
	_end(EXIT_TIMEOUT)


## Called by the node when the server asks this client to leave.
func quit_by_request() -> void:
	print("client %s: quitting as asked" % client_name)
	_end(EXIT_REQUESTED)


func _end(code: int) -> void:
	# The first ending wins. No close() first: the server must notice the socket going away.
	if ended:
		return
	ended = true
	quit(code)
