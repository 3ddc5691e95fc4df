extends Node
## Saves the multiplayer demo's window as a PNG, for the README, then quits. The scene adds it for
## `--screenshot PATH`; with `--host PORT --bots A,B` the picture is taken once the host has seen
## every player (its own and the bots') arrive at the end of its path and wave, SETTLE_FRAMES
## later, while the "Hi!" bubbles are still up; the bots then leave and the process exits.
##
##   godot --path godot-project --resolution 1152x648 res://demo/multiplayer/multiplayer_demo.tscn \
##       -- --name Host --host 0 --bots Ann,Ben --screenshot /tmp/multiplayer-demo.png
##
## It needs a renderer: a display, or Xvfb (scripts/take-screenshots.sh). Headless nothing is
## drawn, so there is no image: it says so and exits with code 1 (after the game, so the bots
## still leave cleanly).

const Autopilot := preload("res://demo/multiplayer/autopilot.gd")
const SETTLE_FRAMES := 12
## Without bots: frames to wait before the picture.
const ALONE_FRAMES := 60
const TIME_LIMIT_S := 45.0

## Where to write the PNG.
var path := ""
var _demo: Control
var _autopilot: Node


func _ready() -> void:
	_demo = get_parent() as Control
	_autopilot = _demo.autopilot
	# Keep the bots in the picture until it is taken.
	_autopilot.hold = true
	_run.call_deferred()


func _run() -> void:
	var deadline := Time.get_ticks_msec() + int(TIME_LIMIT_S * 1000.0)
	# start_bots() is called right after the scene adds this node, in the same frame.
	await get_tree().process_frame
	if _autopilot.is_refereeing():
		while _autopilot.phase < Autopilot.Phase.ARRIVED:
			if Time.get_ticks_msec() > deadline:
				_finish(ERR_TIMEOUT, "the players did not all arrive within %d s" % TIME_LIMIT_S)
				return
			await get_tree().process_frame
		print("screenshot: everyone has arrived and waved; taking the picture")
		for i in SETTLE_FRAMES:
			await get_tree().process_frame
	else:
		for i in ALONE_FRAMES:
			await get_tree().process_frame
	# The frame must be drawn before it is read back. Headless nothing draws and the signal
	# never comes; save_window() then reports the missing image.
	if DisplayServer.get_name() != "headless":
		await RenderingServer.frame_post_draw
	var err := save_window(path)
	if _autopilot.is_refereeing():
		_autopilot.release()
		while _autopilot.phase != Autopilot.Phase.DONE and Time.get_ticks_msec() < deadline:
			await get_tree().process_frame
		if _autopilot.phase != Autopilot.Phase.DONE:
			_autopilot.kill_bots()
		print(Autopilot.summary_line(_autopilot.summary()))
	_finish(err, "")


## Writes what the window shows to `png_path`. ERR_UNAVAILABLE when there is no image (headless).
func save_window(png_path: String) -> Error:
	if not png_path.ends_with(".png"):
		printerr("screenshot: give a path ending in .png: -- --screenshot OUT.png (got \"%s\")" % png_path)
		return ERR_INVALID_PARAMETER
	var texture := get_viewport().get_texture()
	var image: Image = texture.get_image() if texture != null else null
	if image == null or image.is_empty():
		var why := "the display server is headless, so nothing is rendered" if DisplayServer.get_name() == "headless" \
			else "the renderer returned none"
		printerr("screenshot: the window has no image to save (%s); run with a display or under xvfb-run" % why)
		return ERR_UNAVAILABLE
	var err := image.save_png(png_path)
	if err != OK:
		printerr("screenshot: cannot write %s: %s" % [png_path, error_string(err)])
		return err
	print("screenshot: saved %s (%dx%d)" % [png_path, image.get_width(), image.get_height()])
	return OK


func _finish(err: Error, why: String) -> void:
	if why != "":
		printerr("screenshot: ", why)
	_demo.leave()
	get_tree().quit(0 if err == OK else 1)
