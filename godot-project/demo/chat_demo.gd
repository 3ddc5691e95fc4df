extends Control
## The chat demo scene (the project's main scene: F5 in the editor runs it).
##
## "Host" starts demo/chat_server.gd (a WebSocketServer) on the port given, serves the browser
## chat page (demo/web/) on the next port, and joins the chat itself; "Join" connects to a
## host's URL with demo/chat_client.gd (Godot's own WebSocketPeer). Run several instances of the
## project (Debug > Customize Run Instances) and host in one, join in the others, or open the
## printed link in a browser.
##
## Without a display it can be driven from the command line, which is how servers run:
##   godot --headless --path godot-project -- --host 9080      host (and serve the web page)
##   godot --headless --path godot-project -- --join ws://127.0.0.1:9080
## The headless demo (demo/run_chat_demo.gd) calls host() just as the button does.

const ChatServer := preload("res://demo/chat_server.gd")
const ChatClient := preload("res://demo/chat_client.gd")
const PageServer := preload("res://demo/web/page_server.gd")

## A line was added to the log (also printed when running headless).
signal logged(text: String)

## The server while hosting, else null.
var chat_server: Node = null
## The browser page's HTTP server while hosting, else null.
var page_server: Node = null
## This instance's chat connection (to its own server when hosting).
var client: Node = null

## True between leave() and the connection's end: the close is ours, not a lost connection.
var _leaving := false
var _markup := RegEx.create_from_string("\\[/?(b|i|url|color)(=[^\\]]*)?\\]")

@onready var _port: SpinBox = %Port
@onready var _url: LineEdit = %Url
@onready var _host_button: Button = %HostButton
@onready var _join_button: Button = %JoinButton
@onready var _leave_button: Button = %LeaveButton
@onready var _status: Label = %Status
@onready var _log: RichTextLabel = %Log
@onready var _peers: ItemList = %Peers
@onready var _input: LineEdit = %Input
@onready var _send_button: Button = %SendButton


func _ready() -> void:
	client = ChatClient.new()
	client.name = "ChatClient"
	add_child(client)
	client.opened.connect(_on_opened)
	client.line_received.connect(_on_line_received)
	client.peers_changed.connect(_refresh_peers)
	client.closed.connect(_on_closed)
	_host_button.pressed.connect(func(): host(int(_port.value)))
	_join_button.pressed.connect(func(): join(_url.text.strip_edges()))
	_leave_button.pressed.connect(leave)
	_send_button.pressed.connect(func(): _send_input())
	_input.text_submitted.connect(func(_text): _send_input())
	_log.meta_clicked.connect(func(meta): OS.shell_open(str(meta)))
	_update_controls()
	_add_log("[color=gray]Host a chat, or join one. Several instances of this project can talk to each other.[/color]")
	_run_command_line.call_deferred()


## Starts the chat server on `port` (0 = any free port), the web page on the next free port, and
## joins the chat. The "Host" button calls this. Returns the server's listen() error.
func host(port: int) -> Error:
	if chat_server != null or client.is_active():
		return ERR_ALREADY_IN_USE
	chat_server = ChatServer.new()
	chat_server.name = "ChatServer"
	chat_server.verbose = false
	chat_server.logged.connect(_on_server_logged)
	add_child(chat_server)
	var err: Error = chat_server.start(port)
	if err != OK:
		_status.text = "Could not host on port %d: %s" % [port, error_string(err)]
		chat_server.queue_free()
		chat_server = null
		_update_controls()
		return err
	var ws_port: int = chat_server.get_port()
	_serve_page(ws_port)
	_status.text = "Hosting on port %d" % ws_port
	_url.text = "ws://127.0.0.1:%d" % ws_port
	join(_url.text)
	return OK


## Connects to a chat server at `url`. The "Join" button calls this.
func join(url: String) -> Error:
	if client.is_active():
		return ERR_ALREADY_IN_USE
	var err: Error = client.open(url)
	if err != OK:
		_status.text = "Cannot connect to %s: %s" % [url, error_string(err)]
	else:
		_status.text = "Connecting to %s ..." % url
	_update_controls()
	return err


## Leaves the chat; when hosting, also stops the server (every client is disconnected).
func leave() -> void:
	_leaving = client.is_active()
	client.close(1000, "bye")
	if chat_server != null:
		chat_server.broadcast("* the host has left")
		chat_server.stop()
		chat_server.queue_free()
		chat_server = null
	if page_server != null:
		page_server.stop()
		page_server.queue_free()
		page_server = null
	_status.text = "Left the chat"
	_update_controls()


## Sends a chat line as if typed; what the "Send" button and Enter do.
func send_message(text: String) -> Error:
	text = text.strip_edges()
	if text.is_empty():
		return ERR_INVALID_PARAMETER
	var err: Error = client.send_line(text)
	if err == OK:
		# The server relays a line to everyone but its sender: show our own line here.
		_add_log("%s: %s" % [_who_bbcode(client.my_id), _escape(text)])
	return err


func _send_input() -> void:
	if send_message(_input.text) == OK:
		_input.clear()
	_input.grab_focus()


func _serve_page(ws_port: int) -> void:
	page_server = PageServer.new()
	page_server.name = "PageServer"
	page_server.ws_port = ws_port
	add_child(page_server)
	# The next port when free, else any: a second host on this machine still gets a page.
	if page_server.start(ws_port + 1 if ws_port < 65535 else 0) != OK and page_server.start(0) != OK:
		_add_log("[color=#d08770]The browser page could not be served.[/color]")
		page_server.queue_free()
		page_server = null
		return
	_add_log("Browsers can join at [url]%s[/url]" % page_server.get_url())


func _on_server_logged(line: String) -> void:
	# The chat lines themselves are in the log already, from this instance's own client.
	if not line.contains(" says: "):
		_add_log("[color=#7f8c9a]server: %s[/color]" % _escape(line))


func _on_opened() -> void:
	_status.text = ("Hosting on port %d" % chat_server.get_port()) if chat_server != null else "Connected to %s" % _url.text
	_update_controls()
	_input.grab_focus()


func _on_line_received(text: String) -> void:
	if text.begins_with("* "):
		_add_log("[color=gray][i]%s[/i][/color]" % _escape(text.substr(2)))
	elif text.begins_with("[") and text.contains("] "):
		var id := int(text.get_slice("]", 0).substr(1))
		_add_log("%s: %s" % [_who_bbcode(id), _escape(text.substr(text.find("] ") + 2))])
	else:
		_add_log(_escape(text))


func _on_closed(code: int, reason: String) -> void:
	var how := "closed cleanly" if code == 1000 or _leaving else "lost (code %d%s)" % [code, "" if reason.is_empty() else ", \"%s\"" % reason]
	_add_log("[color=gray]Connection %s.[/color]" % how)
	if chat_server == null:
		_status.text = "Disconnected: the connection was %s" % how
	_leaving = false
	_refresh_peers()
	_update_controls()


func _refresh_peers() -> void:
	_peers.clear()
	if not client.is_open():
		return
	for id in client.peer_ids:
		_peers.add_item(_who(id) + (" (you)" if id == client.my_id else ""))


func _update_controls() -> void:
	var busy: bool = client.is_active() or chat_server != null
	_host_button.disabled = busy
	_join_button.disabled = busy
	_port.editable = not busy
	_url.editable = not busy
	_leave_button.disabled = not busy
	_send_button.disabled = not client.is_open()
	_input.editable = client.is_open()


## How a client id is shown: the chat server numbers its clients, not its people.
func _who(id: int) -> String:
	return "client %d" % id


## A client's name in its own colour, so that a conversation is easy to follow.
func _who_bbcode(id: int) -> String:
	const COLORS := ["#88c0d0", "#a3be8c", "#ebcb8b", "#d08770", "#b48ead", "#8fbcbb", "#bf616a"]
	return "[b][color=%s]%s[/color][/b]" % [COLORS[id % COLORS.size()], _who(id)]


func _add_log(bbcode: String) -> void:
	_log.append_text(bbcode + "\n")
	logged.emit(bbcode)
	if DisplayServer.get_name() == "headless":
		print("[chat] ", _markup.sub(bbcode, "", true).replace("[lb]", "["))


func _escape(text: String) -> String:
	# Chat text is shown as BBCode: a "[" from a client must not become markup.
	return text.replace("[", "[lb]")


## "-- --host PORT" or "-- --join URL" on the command line do what the buttons do.
func _run_command_line() -> void:
	var args := OS.get_cmdline_user_args()
	var i := args.find("--host")
	if i >= 0:
		host(int(args[i + 1]) if i + 1 < args.size() and args[i + 1].is_valid_int() else 9080)
		return
	i = args.find("--join")
	if i >= 0 and i + 1 < args.size():
		_url.text = args[i + 1]
		join(args[i + 1])
