extends SceneTree
## The Godot side of scripts/run-browser-test.sh: the chat demo's server (demo/chat_server.gd),
## its browser page (demo/web/page_server.gd), and a bot on Godot's own WebSocketPeer in the chat.
##
##   godot --headless --path godot-project --script res://tests/servers/browser_chat_server.gd -- \
##       [--ws-port 0] [--http-port 0] [--lifetime 120] [--quit-file PATH]
##
## With fixed ports (--ws-port 9080 --http-port 9081) it is also a chat to try the page in by hand.
##
## Prints, for the test to read:
##   LISTENING ws=PORT http=PORT     once both servers listen (0 = any free port)
##   PAGE <url>                      the page's link
##   BOT ID <id>                     once the bot is in the chat
##   BOT GOT: <line>                 every chat line the bot receives, as received ("[id] text")
##   BOT CLOSED code=<code> reason=<reason>
## and the chat server's own "[server] ..." lines (connections, closes and their codes).
##
## The bot greets every newcomer ("hi <id>! ...") and answers every chat line "[id] text" with
## "bot heard: text": lines from a browser reach the bot, and the bot's lines reach the browser.
##
## Quits when the file PATH exists, or after --lifetime seconds: the bot leaves cleanly first.
## Exit code 0 when the bot's connection ended with 1000; 1 when it did not; 2 for bad arguments;
## 3 when a server cannot listen.

const ChatServer := preload("res://demo/chat_server.gd")
const PageServer := preload("res://demo/web/page_server.gd")

var chat: Node
var pages: Node
var bot := WebSocketPeer.new()
var bot_id := 0

var _quit_file := ""
var _deadline_msec := 0
var _next_quit_check_msec := 0
var _bot_state := WebSocketPeer.STATE_CLOSED
var _leaving := false
var _leave_deadline_msec := 0
var _done := false


func _initialize() -> void:
	OS.low_processor_usage_mode_sleep_usec = 1000
	_start.call_deferred()


func _start() -> void:
	var options := {"ws-port": "0", "http-port": "0", "lifetime": "120", "quit-file": ""}
	var args := OS.get_cmdline_user_args()
	var i := 0
	while i < args.size():
		var name := args[i].trim_prefix("--")
		if not args[i].begins_with("--") or not options.has(name) or i + 1 >= args.size():
			printerr("browser_chat_server: bad arguments %s (usage: [--ws-port N] [--http-port N] [--lifetime S] [--quit-file PATH])" % [args])
			_finish(2)
			return
		options[name] = args[i + 1]
		i += 2
	for key in ["ws-port", "http-port"]:
		if not options[key].is_valid_int() or int(options[key]) < 0 or int(options[key]) > 65535:
			printerr("browser_chat_server: --%s needs a port number 0..65535" % key)
			_finish(2)
			return
	if not options["lifetime"].is_valid_float():
		printerr("browser_chat_server: --lifetime needs a number of seconds")
		_finish(2)
		return
	_quit_file = options["quit-file"]
	_deadline_msec = Time.get_ticks_msec() + int(float(options["lifetime"]) * 1000.0)

	chat = ChatServer.new()
	root.add_child(chat)
	if chat.start(int(options["ws-port"])) != OK:
		_finish(3)
		return
	pages = PageServer.new()
	pages.ws_port = chat.get_port()
	pages.verbose = true
	root.add_child(pages)
	var err: Error = pages.start(int(options["http-port"]))
	if err != OK:
		printerr("browser_chat_server: the page server cannot listen: %s" % error_string(err))
		_finish(3)
		return
	print("LISTENING ws=%d http=%d" % [chat.get_port(), pages.get_port()])
	print("PAGE %s" % pages.get_url())

	err = bot.connect_to_url("ws://127.0.0.1:%d" % chat.get_port())
	if err != OK:
		printerr("browser_chat_server: the bot cannot connect: %s" % error_string(err))
		_finish(1)
		return
	_bot_state = WebSocketPeer.STATE_CONNECTING


func _process(_delta: float) -> bool:
	if _done:
		return false
	_poll_bot()
	var now := Time.get_ticks_msec()
	if not _leaving and _deadline_msec > 0 and now >= _next_quit_check_msec:
		_next_quit_check_msec = now + 100
		if not _quit_file.is_empty() and FileAccess.file_exists(_quit_file):
			print("browser_chat_server: %s exists, quitting" % _quit_file)
			_leave()
		elif now > _deadline_msec:
			print("browser_chat_server: lifetime over, quitting")
			_leave()
	if _leaving and (_bot_state == WebSocketPeer.STATE_CLOSED or now > _leave_deadline_msec):
		var clean := bot.get_ready_state() == WebSocketPeer.STATE_CLOSED and bot.get_close_code() == 1000
		if not clean:
			printerr("browser_chat_server: the bot did not leave cleanly (close code %d)" % bot.get_close_code())
		_finish(0 if clean else 1)
	return false


func _poll_bot() -> void:
	if _bot_state == WebSocketPeer.STATE_CLOSED:
		return
	# Godot's WebSocketPeer does nothing by itself: poll() reads the socket and moves it on.
	bot.poll()
	while bot.get_available_packet_count() > 0:
		_on_bot_line(bot.get_packet().get_string_from_utf8())
	var state := bot.get_ready_state()
	if state == WebSocketPeer.STATE_CLOSED and _bot_state != WebSocketPeer.STATE_CLOSED:
		print("BOT CLOSED code=%d reason=%s" % [bot.get_close_code(), bot.get_close_reason()])
		if not _leaving:
			printerr("browser_chat_server: the bot's connection ended unexpectedly")
			_leave()
	_bot_state = state


func _on_bot_line(text: String) -> void:
	if text.begins_with("* welcome, you are client "):
		bot_id = int(text.get_slice("client ", 1))
		print("BOT ID %d" % bot_id)
	elif text.begins_with("* ") and text.ends_with(" joined"):
		var id := int(text.get_slice(" ", 1))
		bot.send_text("hi %d! I am a bot on Godot's WebSocketPeer: say something and I will repeat it." % id)
	elif text.begins_with("[") and text.contains("] "):
		print("BOT GOT: %s" % text)
		bot.send_text("bot heard: %s" % text.substr(text.find("] ") + 2))


## The bot says goodbye (1000); _process() finishes once its close handshake is done.
func _leave() -> void:
	if _leaving:
		return
	_leaving = true
	_leave_deadline_msec = Time.get_ticks_msec() + 5000
	if _bot_state == WebSocketPeer.STATE_OPEN or _bot_state == WebSocketPeer.STATE_CONNECTING:
		bot.close(1000, "bye")


func _finish(code: int) -> void:
	if _done:
		return
	_done = true
	if pages != null:
		pages.stop()
	if chat != null:
		chat.stop()
	quit(code)
