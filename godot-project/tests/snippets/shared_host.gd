extends "res://tests/snippets/snippet_harness.gd"
## The shared-scripts snippet (members of a script that Web clients load too), run where the addon
## is loaded and where it is not:
## (1) here: can_host() is true, host(0) returns OK, and the server it made (by name, through
##     ClassDB) echoes a Godot WebSocketPeer client's text through the snippet's _on_data handler;
## (2) in another Godot process, on a project holding only the snippet and its context (no addon,
##     as in a Web export): the script parses, WebSocketServer does not exist, can_host() is false
##     and host(0) returns ERR_UNAVAILABLE.

const CONTEXT := "res://tests/snippets/shared_host_context.gd"
const MAIN_WITHOUT_ADDON := """extends SceneTree

func _initialize() -> void:
	var node = load("res://snippet.gd").new()
	print("without the addon: ", [ClassDB.class_exists(&"WebSocketServer"), node.can_host(), node.host(0)])
	node.free()
	quit(0)
"""


func drive() -> void:
	var node := add_snippet(root, "Snippet")
	if node == null:
		return
	await check_hosting(node)
	node.server.stop()
	check_without_addon()


func check_hosting(node: Node) -> void:
	if not check(node.can_host(), "(1) can_host() is true where the addon is loaded"):
		return
	if not check_eq(node.host(0), OK, "(1) host(0)"):
		return
	check(node.server.is_class("WebSocketServer") and node.server.is_listening(), "(1) server is a listening WebSocketServer")
	var client := await connect_client("ws://127.0.0.1:%d" % node.server.get_local_port())
	if not check_eq(client.get_ready_state(), WebSocketPeer.STATE_OPEN, "(1) a client connects"):
		return
	client.send_text("hello")
	if await wait_until(func(): return client.get_available_packet_count() > 0, "(1) the echo"):
		check_eq(client.get_packet().get_string_from_utf8(), "echo: hello", "(1) the echo of the snippet's server")
		check_eq(node.received.map(func(r): return r[1]), ["hello"], "(1) the texts _on_data got (connected by the snippet)")
	client.close(1000)
	await wait_until(func(): return client.get_ready_state() == WebSocketPeer.STATE_CLOSED, "(1) the client's close to complete")
	stop_polling(client)


func check_without_addon() -> void:
	var project := ProjectSettings.globalize_path("res://").path_join("without_addon")
	var ok := DirAccess.make_dir_recursive_absolute(project.path_join(CONTEXT.get_base_dir().trim_prefix("res://"))) == OK
	ok = ok and write(project.path_join("project.godot"), "config_version=5\n\n[application]\n\nconfig/name=\"without the addon\"\n")
	ok = ok and write(project.path_join("snippet.gd"), FileAccess.get_file_as_string(SNIPPET_PATH))
	ok = ok and write(project.path_join(CONTEXT.trim_prefix("res://")), FileAccess.get_file_as_string(CONTEXT))
	ok = ok and write(project.path_join("main.gd"), MAIN_WITHOUT_ADDON)
	ok = ok and not DirAccess.dir_exists_absolute(project.path_join("addons"))
	if not check(ok, "(2) a project without the addon written to %s" % project):
		return
	var out := []
	var code := OS.execute(OS.get_executable_path(), ["--headless", "--path", project, "--script", "res://main.gd"], out, true)
	var text := "\n".join(out)
	# Quoted with its error markers renamed: the checker judges this process's own output.
	print("(2) the process without the addon (exit %d):\n%s" % [code, text.strip_edges()
		.replace("SCRIPT ERROR", "child's script error").replace("ERROR:", "child's error:").indent("    ")])
	check_eq(code, 0, "(2) the exit code of the process without the addon")
	check(text.contains("without the addon: [false, false, %d]" % ERR_UNAVAILABLE),
		"(2) there: WebSocketServer does not exist, can_host() is false, host(0) returns ERR_UNAVAILABLE")
	check(not text.contains("ERROR"), "(2) no error in the process without the addon")


func write(path: String, text: String) -> bool:
	var file := FileAccess.open(path, FileAccess.WRITE)
	if file == null:
		fail("cannot write %s: %s" % [path, error_string(FileAccess.get_open_error())])
		return false
	file.store_string(text)
	return true
