extends "res://tests/lib/test_base.gd"
## The multiplayer demo scene (demo/multiplayer/multiplayer_demo.tscn):
## 1. Two instances in this process, driven through their controls: one hosts (port field, Host
##    button: our WebSocketMultiplayerServer), the other joins (URL field, Join button: Godot's
##    WebSocketMultiplayerPeer). Both players are spawned on both sides, arrow keys move both and
##    each side sees the other's position (synchronizer, both directions), the Wave button's RPC
##    reaches the other side, Leave removes the guest's player from the host, and the host's
##    Leave sends the guest back to the menu with a message.
## 2. The scene hosting here with two bots, each the same scene in another Godot process (stock
##    clients): every peer saw every player spawn (spawner), arrive at the end of its path
##    (synchronizer; the host checks the exact final positions) and wave (RPC); departures
##    removed the players everywhere; the bots exited with 0.
## 3. demo/run_mp_demo.gd (what scripts/demo-multiplayer.sh runs) in another Godot: exit code 0,
##    an OK SUMMARY line, and no error from the host or its three bot processes.
## 4. The screenshot path (--screenshot) headless: the game reaches the picture, there is no image
##    to save without a renderer, and it says so and exits with 1 after the bots left cleanly.

const Demo := preload("res://demo/multiplayer/multiplayer_demo.tscn")
const Autopilot := preload("res://demo/multiplayer/autopilot.gd")
const BOTS := ["Alice", "Bob"]

var error_log = null


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketMultiplayerServer"), "class WebSocketMultiplayerServer is registered (extension loaded)"):
		return
	# Godot >= 4.5 lets the test see every error this process reports (tests/lib/error_log.gd).
	if ClassDB.class_exists("Logger"):
		error_log = load("res://tests/lib/error_log.gd").new()
		OS.add_logger(error_log)
	await two_instances_through_the_ui()
	await host_with_bot_processes()
	if error_log != null:
		OS.remove_logger(error_log)
		check_eq(Array(error_log.take()), [], "no error or warning logged in this process by the scenes")
	# Both run the same game in other processes, with time limits of their own (60 s and 45 s):
	# after a failure above they would only fail the same way, past the runner's time limit.
	if not _failures.is_empty():
		fail("run_mp_demo.gd and the --screenshot run were skipped after the failures above")
		return
	run_demo_script()
	run_screenshot_headless()


# --- 1 -------------------------------------------------------------------------------------------

func two_instances_through_the_ui() -> void:
	var host: Control = Demo.instantiate()
	host.name = "HostWindow"
	var guest: Control = Demo.instantiate()
	guest.name = "GuestWindow"
	root.add_child(host)
	root.add_child(guest)
	var host_log := []
	var guest_log := []
	host.event_logged.connect(func(line): host_log.append(line))
	guest.event_logged.connect(func(line): guest_log.append(line))
	await process_frame

	# Nobody there yet: joining fails back to the menu, with the reason.
	var port := _free_port()
	guest.get_node("%Url").text = "ws://127.0.0.1:%d" % port
	guest.get_node("%JoinButton").pressed.emit()
	check(guest.get_node("%JoinButton").disabled and guest.get_node("%Status").text.begins_with("Connecting to"), "Join disables Join while connecting")
	await wait_until(func(): return guest.in_menu(), "the join to fail (nobody listening)", 10.0)
	check_eq(guest.get_node("%Status").text, "Could not connect to ws://127.0.0.1:%d." % port, "the guest is told it could not connect")

	# Host: name, port, the Host button.
	host.get_node("%Name").text = "Hostess"
	host.get_node("%Port").value = port
	host.get_node("%HostButton").pressed.emit()
	check(host.is_hosting() and host.server.is_listening(), "Host started a listening WebSocketMultiplayerServer")
	check_eq(host.get_port(), port, "it listens on the port field's port")
	check(host.get_node("%Status").text.begins_with("Hosting on port %d · 1 player" % port), "host status: %s" % host.get_node("%Status").text)
	check(host.get_node("%HostButton").disabled and host.get_node("%JoinButton").disabled and not host.get_node("%LeaveButton").disabled,
		"while hosting: Host and Join disabled, Leave enabled")
	await process_frame
	check_eq(host.peer_list_names(), ["Hostess  (host, you)"], "host's player list: itself")
	check(host.local_player() != null and host.local_player().position == Vector2(120, 120), "the host's player is spawned at the first slot")

	# Guest: name, URL (already set), the Join button.
	guest.get_node("%Name").text = "Guest"
	guest.get_node("%JoinButton").pressed.emit()
	if not await wait_until(func(): return guest.local_player() != null and host.find_player("Guest") != null,
			"the guest's player to be spawned on both sides", 10.0):
		await _free_scenes([host, guest])
		return
	await process_frame
	var guest_id: int = guest.local_player().peer_id
	check_eq(guest.players().map(func(p): return p.player_name), ["Hostess", "Guest"], "the guest sees both players, host first")
	check_eq(host.find_player("Guest").get_multiplayer_authority(), guest_id, "on the host, the guest owns its player")
	check_eq(guest.find_player("Hostess").get_multiplayer_authority(), 1, "on the guest, the host owns its player")
	check_eq(guest.peer_list_names(), ["Hostess  (host)", "Guest  (you)"], "guest's player list")
	check_eq(host.peer_list_names(), ["Hostess  (host, you)", "Guest"], "host's player list")
	check(guest.get_node("%Status").text.begins_with("Connected to ws://127.0.0.1:%d" % port), "guest status: %s" % guest.get_node("%Status").text)
	check(_has(host_log, "Guest joined."), "the host's events say the guest joined")
	check(_has(guest_log, "Hostess is here."), "the guest's events say the host was there")

	# The arrow keys: both instances read the same keyboard here, so both players move right, and
	# each side must see the other's new position.
	var host_start: Vector2 = host.local_player().position
	var guest_start: Vector2 = guest.local_player().position
	Input.action_press("ui_right")
	await wait_seconds(0.3)
	Input.action_release("ui_right")
	await wait_seconds(0.1)
	var host_now: Vector2 = host.local_player().position
	var guest_now: Vector2 = guest.local_player().position
	check(host_now.x > host_start.x + 20 and host_now.y == host_start.y, "the right arrow moved the host's player right (%s -> %s)" % [host_start, host_now])
	check(guest_now.x > guest_start.x + 20 and guest_now.y == guest_start.y, "the right arrow moved the guest's player right (%s -> %s)" % [guest_start, guest_now])
	await wait_until(func(): return guest.find_player("Hostess").position == host_now and host.find_player("Guest").position == guest_now,
		"each side to see the other's new position", 5.0)
	check_eq(guest.find_player("Hostess").position, host_now, "the guest sees the host's player where the host moved it")
	check_eq(host.find_player("Guest").position, guest_now, "the host sees the guest's player where the guest moved it")

	# The Wave button: an RPC from the owner to everyone (the host relays the guest's).
	guest.get_node("%WaveButton").pressed.emit()
	await wait_until(func(): return host.find_player("Guest").is_waving(), "the host to see the guest wave", 5.0)
	check(_has(host_log, "Guest waves."), "the host's events say the guest waved")
	check(guest.find_player("Guest").is_waving(), "the guest sees its own wave (call_local)")
	check_eq(host.wave(), OK, "the host waves")
	await wait_until(func(): return guest.find_player("Hostess").is_waving(), "the guest to see the host wave", 5.0)

	# The guest leaves: its player goes from the host.
	guest.get_node("%LeaveButton").pressed.emit()
	check(guest.in_menu() and guest.players().is_empty(), "after Leave the guest is in the menu with no players")
	check_eq(guest.get_node("%Status").text, "You left the game.", "guest status after Leave")
	await wait_until(func(): return _has(host_log, "Guest left."), "the host's events to say the guest left", 5.0)
	check(host.find_player("Guest") == null, "the guest's player is gone from the host")
	await process_frame
	check_eq(host.peer_list_names(), ["Hostess  (host, you)"], "host's player list after the guest left")

	# The guest joins again; then the host leaves, which ends the game for the guest.
	guest.get_node("%JoinButton").pressed.emit()
	await wait_until(func(): return guest.local_player() != null, "the guest to join again", 10.0)
	check_eq(guest.local_player().position, Vector2(680, 120), "a new player gets the next start slot")
	var server = host.server
	host.get_node("%LeaveButton").pressed.emit()
	check(not server.is_listening(), "the host's Leave stopped the server")
	check(host.in_menu() and host.players().is_empty(), "the host is back in the menu with no players")
	await wait_until(func(): return guest.in_menu(), "the guest to return to the menu", 5.0)
	check_eq(guest.get_node("%Status").text, "The host left the game.", "the guest is told why")
	check(guest.players().is_empty(), "the guest has no players left")
	check(not guest.get_node("%JoinButton").disabled and not host.get_node("%HostButton").disabled, "Join and Host are enabled again")
	await _free_scenes([host, guest])


# --- 2 -------------------------------------------------------------------------------------------

func host_with_bot_processes() -> void:
	var demo: Control = Demo.instantiate()
	root.add_child(demo)
	demo.get_node("%Name").text = "Host"
	var events := []
	demo.event_logged.connect(func(line): events.append(line))
	var autopilot: Node = demo.autopilot
	var summary := {}
	# Lambdas capture locals by value: fill the captured Dictionary rather than reassign it.
	autopilot.finished.connect(func(s): summary.merge(s))
	# The host's view of every player when it has seen them all arrive.
	var arrived_at := {}
	autopilot.everyone_arrived.connect(func():
		for player in demo.players():
			arrived_at[player.player_name] = player.position)
	if not check_eq(demo.host(0), OK, "the scene hosts on a free port"):
		await _free_scenes([demo])
		return
	autopilot.start_bots(BOTS)
	await wait_until(func(): return not summary.is_empty(), "the game to finish (every bot walked, waved, left and exited)", 40.0)
	if summary.is_empty():
		autopilot.kill_bots()
		summary.merge(autopilot.summary())
	for problem in summary["problems"]:
		print("  problem: ", problem)
	print(Autopilot.summary_line(summary))

	var everyone := ["Host", "Alice", "Bob"]
	var sorted_everyone := everyone.duplicate()
	sorted_everyone.sort()
	check_eq(summary["joined"], BOTS, "both bots joined")
	var reports: Dictionary = summary["reports"]
	for observer in everyone:
		var report: Dictionary = reports.get(observer, {})
		check_eq(report.get("spawned"), sorted_everyone, "%s saw every player spawned (MultiplayerSpawner)" % observer)
		check_eq(report.get("arrived"), sorted_everyone, "%s saw every player at the end of its path (MultiplayerSynchronizer)" % observer)
		check_eq(report.get("waved"), sorted_everyone, "%s saw every player wave (@rpc)" % observer)
	var paths: Dictionary = summary["paths"]
	for player_name in everyone:
		check(paths.has(player_name) and arrived_at.get(player_name) == Array(paths[player_name]).back(),
			"the host saw %s exactly at its final target %s (got %s)" % [player_name, Array(paths.get(player_name, [null])).back(), arrived_at.get(player_name)])
	check_eq(summary["dismissal_order"], BOTS, "the bots were dismissed one by one")
	check_eq(reports.get("Alice", {}).get("gone"), [], "Alice, first to go, saw nobody leave")
	check_eq(reports.get("Bob", {}).get("gone"), ["Alice"], "Bob saw Alice's player removed")
	check_eq(reports.get("Host", {}).get("gone"), BOTS, "the host saw both bots' players removed")
	check_eq(demo.players().map(func(p): return p.player_name), ["Host"], "only the host's player is left on the host")
	await process_frame
	check_eq(demo.peer_list_names(), ["Host  (host, you)"], "the host's player list after the bots left")
	for bot_name in BOTS:
		check(_has(events, "%s joined." % bot_name) and _has(events, "%s waves." % bot_name) and _has(events, "%s left." % bot_name),
			"the host's events show %s join, wave and leave" % bot_name)
	check_eq(summary["exit_codes"], {"Alice": 0, "Bob": 0}, "bot exit codes")
	check_eq(summary["problems"], [], "problems found by the summary")
	check(Autopilot.summary_line(summary).begins_with(
		"SUMMARY: OK; 2/2 bots joined; of 9 (every peer x every player): 9 spawns, 9 arrivals, 9 waves seen; 3/3 departures seen"),
		"summary line")
	for bot_name in autopilot.bots:
		var pid: int = autopilot.bots[bot_name]
		if OS.is_process_running(pid):
			fail("bot %s (pid %d) still running at the end: killed" % [bot_name, pid])
			OS.kill(pid)
	demo.leave()
	await _free_scenes([demo])


# --- 3 and 4 -------------------------------------------------------------------------------------

func run_demo_script() -> void:
	# As scripts/demo-multiplayer.sh runs it; it ends on its own (60 s at most). The output holds
	# the host's and, through the inherited pipes, its three bots' errors.
	var output := []
	var code := OS.execute(OS.get_executable_path(), ["--headless", "--path", ProjectSettings.globalize_path("res://"),
		"--script", "res://demo/run_mp_demo.gd"], output, true)
	var lines := Array("".join(output).split("\n"))
	var summaries := lines.filter(func(line): return line.begins_with("SUMMARY:"))
	check_eq(code, 0, "run_mp_demo.gd exit code")
	check(summaries.size() == 1 and summaries[0].begins_with(
		"SUMMARY: OK; 3/3 bots joined; of 16 (every peer x every player): 16 spawns, 16 arrivals, 16 waves seen; 6/6 departures seen; bot exit codes Alice=0 Bob=0 Carol=0"),
		"run_mp_demo.gd prints an OK summary; got %s" % [summaries])
	for who in ["Alice", "Bob", "Carol"]:
		check(lines.has("[Host] %s left." % who), "the demo's log shows %s leaving" % who)
	check_eq(lines.filter(_is_problem), [], "errors or warnings in run_mp_demo.gd's output (host and bots)")
	if code != 0:
		print("".join(output))


func run_screenshot_headless() -> void:
	var png := OS.get_cache_dir().path_join("websocket-server-mp-screenshot-%d.png" % OS.get_process_id())
	if FileAccess.file_exists(png):
		DirAccess.remove_absolute(png)
	var output := []
	var code := OS.execute(OS.get_executable_path(), ["--headless", "--path", ProjectSettings.globalize_path("res://"),
		Demo.resource_path, "--", "--name", "Host", "--host", "0", "--bots", "Ann,Ben", "--screenshot", png], output, true)
	var text := "".join(output)
	var lines := Array(text.split("\n"))
	check_eq(code, 1, "--screenshot headless exits with 1 (nothing to save)")
	check(text.contains("screenshot: everyone has arrived and waved; taking the picture"), "the screenshot waited for the players to arrive")
	check(text.contains("screenshot: the window has no image to save (the display server is headless"), "it says why there is no picture")
	check(lines.any(func(line): return line.begins_with("SUMMARY: OK; 2/2 bots joined")), "the bots still played and left cleanly")
	check(not FileAccess.file_exists(png), "no PNG was written")
	# Reading the image back is what fails headless: the dummy renderer has no texture.
	var others := lines.filter(func(line): return _is_problem(line) and not line.contains("Parameter \"t\" is null"))
	check_eq(others, [], "no other error in the --screenshot run's output")
	if code != 1:
		print(text)


func _is_problem(line: String) -> bool:
	return line.begins_with("ERROR") or line.begins_with("SCRIPT ERROR") or line.begins_with("WARNING") \
		or line.contains("[panic") or line.begins_with("USER ERROR")


# --- helpers -------------------------------------------------------------------------------------

func _free_scenes(scenes: Array) -> void:
	for scene in scenes:
		if is_instance_valid(scene):
			scene.queue_free()
	await process_frame


func _has(lines: Array, wanted: String) -> bool:
	return wanted in lines


func _free_port() -> int:
	var probe := TCPServer.new()
	probe.listen(0, "127.0.0.1")
	var port := probe.get_local_port()
	probe.stop()
	return port
