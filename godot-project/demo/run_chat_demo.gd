extends SceneTree
## Runs the chat demo headless: the chat scene (demo/chat_demo.tscn, the project's main scene)
## hosts, exactly as its "Host" button does (demo/chat_server.gd, plus its own chat client), and
## three bots (demo/chat_bot.gd, typing into demo/chat_client.gd as the scene's "Join" does) chat
## in the same process, printing the conversation as it happens.
##
##   godot --headless --path godot-project --script res://demo/run_chat_demo.gd [-- --port N]
##
## Exit code 0 when every bot said its lines, heard every other bot's lines and left cleanly, and
## the host's chat window showed them all; 1 (with a message) when something went wrong or the
## demo took more than 30 s.

const ChatDemo := preload("res://demo/chat_demo.tscn")
const ChatBot := preload("res://demo/chat_bot.gd")
const TIME_LIMIT_S := 30.0
const BOTS := {
	"Alice": ["Hi everyone, Alice here.", "Anyone up for a game?", "See you later!"],
	"Bob": ["Hello Alice! Bob speaking.", "Sure, I'm in.", "Bye for now."],
	"Carol": ["Carol joined the chat.", "Count me in too!", "Have fun, bye!"],
}

var chat_scene: Control
var chat: Node
## Chat lines ("[id] text") the host's own chat client received.
var host_heard := PackedStringArray()
var bots: Array = []
var _started_msec := 0
var _done := false


func _initialize() -> void:
	_started_msec = Time.get_ticks_msec()
	OS.low_processor_usage_mode_sleep_usec = 1000
	_run.call_deferred()


func _process(_delta: float) -> bool:
	if not _done and Time.get_ticks_msec() - _started_msec > int(TIME_LIMIT_S * 1000.0):
		_fail("the demo did not finish within %.0f s" % TIME_LIMIT_S)
	return false


func _run() -> void:
	var port := _port_from_args()
	if port < 0:
		return

	# The host: the chat scene, as if its "Host" button was pressed.
	chat_scene = ChatDemo.instantiate()
	root.add_child(chat_scene)
	if chat_scene.host(port) != OK:
		_fail("the chat scene could not host on port %d" % port)
		return
	chat = chat_scene.chat_server
	chat_scene.client.line_received.connect(func(text: String):
		if text.begins_with("["):
			host_heard.append(text))
	var url := "ws://127.0.0.1:%d" % chat.get_port()

	# The bots: each has to hear all the other bots' lines before it leaves.
	var total_lines := 0
	for bot_name in BOTS:
		total_lines += BOTS[bot_name].size()
	for bot_name in BOTS:
		var bot := ChatBot.new()
		bot.name = bot_name
		bot.bot_name = bot_name
		bot.url = url
		bot.lines = PackedStringArray(BOTS[bot_name])
		bot.delay_s = 0.15 + 0.05 * bots.size()
		bot.hear_before_leaving = total_lines - BOTS[bot_name].size()
		root.add_child(bot)
		bots.append(bot)

	# Nobody talks before everyone is in: wait for the server to see every bot (and for every
	# bot to know its id from the welcome notice).
	while not (_all_bots(func(b): return b.my_id != 0 or b.is_finished) and chat_scene.client.my_id != 0):
		if _done:
			return
		await process_frame
	print("[demo] all %d bots are connected; let the chat begin" % bots.size())
	for bot in bots:
		bot.start_talking()

	# Wait until every bot has left and the server has seen every disconnection.
	while not (_all_bots(func(b): return b.is_finished) and chat.disconnected_count >= bots.size()):
		if _done:
			return
		await process_frame

	var problems := _check_conversation()
	if not problems.is_empty():
		_fail("\n  ".join(problems))
		return
	var relayed: int = chat.relayed_count
	var delivered: int = chat.delivered_count
	chat_scene.leave()
	print("Demo finished: %d messages relayed (%d deliveries) in %.1f s" % [relayed, delivered,
		(Time.get_ticks_msec() - _started_msec) / 1000.0])
	_done = true
	quit(0)


## What went wrong in the conversation, if anything.
func _check_conversation() -> PackedStringArray:
	var problems := PackedStringArray()
	for bot in bots:
		if not bot.error.is_empty():
			problems.append("bot %s: %s" % [bot.bot_name, bot.error])
		for other in bots:
			if other == bot:
				continue
			for line in other.lines:
				if not bot.chat_lines.has("[%d] %s" % [other.my_id, line]):
					problems.append("bot %s never got \"%s\" from %s" % [bot.bot_name, line, other.bot_name])
		for line in bot.lines:
			if not host_heard.has("[%d] %s" % [bot.my_id, line]):
				problems.append("the host's chat window never showed \"%s\" from %s" % [line, bot.bot_name])
	if chat.clean_disconnects != bots.size():
		problems.append("%d of %d bots disconnected cleanly" % [chat.clean_disconnects, bots.size()])
	return problems


func _all_bots(condition: Callable) -> bool:
	for bot in bots:
		if not condition.call(bot):
			return false
	return true


## The port from "--port N" after "--" on the command line; 0 (any free port) by default.
func _port_from_args() -> int:
	var args := OS.get_cmdline_user_args()
	var i := args.find("--port")
	if i < 0:
		return 0
	if i + 1 >= args.size() or not args[i + 1].is_valid_int() or int(args[i + 1]) < 0 or int(args[i + 1]) > 65535:
		_fail("--port needs a number 0..65535 (got %s)" % [args.slice(i + 1)])
		return -1
	return int(args[i + 1])


func _fail(why: String) -> void:
	if _done:
		return
	_done = true
	printerr("Demo FAILED: ", why)
	if chat_scene != null:
		chat_scene.leave()
	quit(1)
