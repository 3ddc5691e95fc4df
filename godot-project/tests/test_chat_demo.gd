extends "res://tests/lib/test_base.gd"
## The chat demo (demo/chat_server.gd + demo/chat_bot.gd) in this process: three bots join,
## each says its lines, every bot receives every other bot's lines prefixed with the sender's id
## ("[id] text"), in the order they were said, never its own; all leave cleanly.

const ChatServer := preload("res://demo/chat_server.gd")
const ChatBot := preload("res://demo/chat_bot.gd")
const BOTS := {
	"Ann": ["ann 1", "ann 2", "ann 3: ünïcödé ✓"],
	"Ben": ["ben 1", "ben 2"],
	"Cid": ["cid 1", "cid 2", "cid 3", "cid 4"],
}

var connected_ids: Array = []
var disconnects: Array = []  # [id, was_clean_close]
var relayed: Array = []  # [id, text]


func run_tests() -> void:
	var chat := ChatServer.new()
	chat.verbose = false
	root.add_child(chat)
	if not check_eq(chat.start(0), OK, "chat server start(0)"):
		chat.queue_free()
		return
	var server: WebSocketServer = chat.server
	check(server.is_listening(), "the chat server's WebSocketServer is listening")
	var port: int = chat.get_port()
	check(port > 0, "chat server port")
	server.client_connected.connect(func(id, _protocol): connected_ids.append(id))
	server.client_disconnected.connect(func(id, clean): disconnects.append([id, clean]))
	chat.message_relayed.connect(func(id, text): relayed.append([id, text]))

	var total_lines := 0
	for bot_name in BOTS:
		total_lines += BOTS[bot_name].size()
	var bots: Array = []
	for bot_name in BOTS:
		var bot := ChatBot.new()
		bot.bot_name = bot_name
		bot.verbose = false
		bot.url = "ws://127.0.0.1:%d" % port
		bot.lines = PackedStringArray(BOTS[bot_name])
		bot.delay_s = 0.05
		bot.hear_before_leaving = total_lines - BOTS[bot_name].size()
		bot.patience_s = 5.0
		root.add_child(bot)
		bots.append(bot)

	var all_have_ids := func():
		for b in bots:
			if b.my_id == 0:
				return false
		return true
	await wait_until(all_have_ids, "every bot to get its welcome notice", 10.0)
	check_eq(connected_ids.size(), bots.size(), "client_connected signals")
	var bot_ids := {}
	for bot in bots:
		bot_ids[bot.my_id] = bot.bot_name
		check(connected_ids.has(bot.my_id), "bot %s's id %d (from the welcome notice) was announced by client_connected" % [bot.bot_name, bot.my_id])
	check_eq(bot_ids.size(), bots.size(), "distinct bot ids")
	for bot in bots:
		bot.start_talking()

	var all_finished := func():
		for b in bots:
			if not b.is_finished:
				return false
		return disconnects.size() >= bots.size()
	await wait_until(all_finished, "every bot to say its lines and leave", 20.0)
	await wait_seconds(0.1)

	for bot in bots:
		check_eq(bot.error, "", "bot %s finished without error" % bot.bot_name)
		check_eq(bot.close_code, 1000, "bot %s close code" % bot.bot_name)
		# Exactly the other bots' lines, each prefixed with its sender's id; per sender in order.
		var expected := PackedStringArray()
		var got_per_sender := {}
		for other in bots:
			if other == bot:
				continue
			var prefixed := PackedStringArray()
			for line in other.lines:
				prefixed.append("[%d] %s" % [other.my_id, line])
			expected.append_array(prefixed)
			got_per_sender[other.bot_name] = prefixed
		for other in bots:
			if other == bot:
				continue
			var from_other := PackedStringArray()
			for line in bot.chat_lines:
				if line.begins_with("[%d] " % other.my_id):
					from_other.append(line)
			check_eq(from_other, got_per_sender[other.bot_name],
				"bot %s received %s's lines, prefixed with [%d], in order" % [bot.bot_name, other.bot_name, other.my_id])
		var own := PackedStringArray()
		for line in bot.chat_lines:
			if line.begins_with("[%d] " % bot.my_id):
				own.append(line)
		check_eq(own, PackedStringArray(), "bot %s never gets its own lines back" % bot.bot_name)
		var sorted_got := Array(bot.chat_lines)
		sorted_got.sort()
		var sorted_expected := Array(expected)
		sorted_expected.sort()
		check_eq(sorted_got, sorted_expected, "bot %s received exactly the other bots' lines" % bot.bot_name)
		check_eq(bot.received[0], "* welcome, you are client %d" % bot.my_id, "bot %s's first message" % bot.bot_name)

	check_eq(relayed.size(), total_lines, "message_relayed signals")
	check_eq(chat.relayed_count, total_lines, "chat.relayed_count")
	check_eq(chat.delivered_count, total_lines * (bots.size() - 1), "chat.delivered_count")
	check_eq(chat.clean_disconnects, bots.size(), "clean disconnects")
	var unclean := 0
	for d in disconnects:
		if not d[1]:
			unclean += 1
	check_eq(unclean, 0, "client_disconnected with was_clean_close false")
	check_eq(server.get_peer_ids().size(), 0, "no peers left")

	chat.stop()
	check(not server.is_listening(), "stopped")
	disconnect_all(server)
	for bot in bots:
		bot.queue_free()
	chat.queue_free()
	await process_frame
