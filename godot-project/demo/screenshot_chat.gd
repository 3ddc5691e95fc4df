extends SceneTree
## Takes the README's picture of the chat scene: the scene hosts, two bots join and talk, the host
## answers through its input line, and the window is saved as a PNG. Needs a display (a real one
## or Xvfb, see scripts/take-screenshots.sh); headless there is nothing rendered to save.
##
##   godot --path godot-project --script res://demo/screenshot_chat.gd -- OUT.png

const ChatDemo := preload("res://demo/chat_demo.tscn")
const ChatBot := preload("res://demo/chat_bot.gd")
const TIME_LIMIT_MSEC := 20000

var _chat_scene: Control
var _bots: Array = []


func _initialize() -> void:
	_run.call_deferred()


func _run() -> void:
	var args := OS.get_cmdline_user_args()
	if args.is_empty() or not args[0].ends_with(".png"):
		_fail("usage: -- OUT.png")
		return
	if DisplayServer.get_name() == "headless":
		_fail("no display: run under a window system or Xvfb")
		return
	root.size = Vector2i(1152, 648)
	_chat_scene = ChatDemo.instantiate()
	root.add_child(_chat_scene)
	if _chat_scene.host(9080) != OK and _chat_scene.host(0) != OK:
		_fail("the chat scene could not host")
		return
	var url := "ws://127.0.0.1:%d" % _chat_scene.chat_server.get_port()
	var script := {
		"Ann": ["Hi! Anyone here?", "Great, see you in the lobby in 5."],
		"Ben": ["Ben here, joining from the browser build later.", "ok!"],
	}
	for bot_name in script:
		var bot := ChatBot.new()
		bot.bot_name = bot_name
		bot.verbose = false
		bot.url = url
		bot.lines = PackedStringArray(script[bot_name])
		bot.delay_s = 0.3 + 0.1 * _bots.size()
		# Stay in the chat until the picture is taken.
		bot.hear_before_leaving = 1000
		bot.patience_s = 60.0
		root.add_child(bot)
		_bots.append(bot)
	var started := Time.get_ticks_msec()
	while not _bots.all(func(b): return b.my_id != 0) or _chat_scene.client.my_id == 0:
		if Time.get_ticks_msec() - started > TIME_LIMIT_MSEC:
			_fail("the bots did not connect")
			return
		await process_frame
	for bot in _bots:
		bot.start_talking()
	await create_timer(0.5).timeout
	_chat_scene.send_message("Welcome both, the server is up.")
	await create_timer(1.2).timeout
	# Leave the text in the input line, as if the host was typing.
	_chat_scene.get_node("%Input").text = "Starting the match now"
	await create_timer(0.3).timeout
	await RenderingServer.frame_post_draw
	var image := root.get_texture().get_image()
	if image == null or image.is_empty():
		_fail("the viewport gave no image")
		return
	var err := image.save_png(args[0])
	if err != OK:
		_fail("cannot write %s: %s" % [args[0], error_string(err)])
		return
	print("saved ", args[0])
	_chat_scene.leave()
	quit(0)


func _fail(why: String) -> void:
	printerr("screenshot_chat: ", why)
	quit(1)
