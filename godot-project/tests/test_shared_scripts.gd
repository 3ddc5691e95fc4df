extends "res://tests/lib/test_base.gd"
## A script shared by server and clients (demo/shared_scripts/network.gd) parses and works where
## the addon is not loaded, as in a Web export. A second project is made on the fly with that
## script and nothing else (no addon, no extension list): there `WebSocketServer` does not exist.
## (1) control: in that project a script naming `WebSocketServer` fails to parse;
## (2) here, with the addon, network.gd hosts; (3) there, network.gd's client joins, reports
## can_host() == false, and gets its echo; its Godot process exits 0 with no SCRIPT ERROR.

const Network := preload("res://demo/shared_scripts/network.gd")
const SHARED := ["res://demo/shared_scripts/network.gd", "res://demo/shared_scripts/run_client.gd"]

var net = Network.new()
var received: Array = []  # [id, text]
var client_done := false
var client_exit := -1
var client_output := ""


func run_tests() -> void:
	var project := _make_project_without_addon()
	if project.is_empty():
		return

	# (1) The control: the class really is absent there.
	var control_output := []
	var control_exit := OS.execute(OS.get_executable_path(), ["--headless", "--path", project,
		"--script", "res://names_the_class.gd"], control_output, true)
	var control_text := "\n".join(control_output)
	print("control run (exit %d):\n%s" % [control_exit, _quoted(control_text)])
	check(control_text.contains("Parse Error") and control_text.contains("WebSocketServer"),
		"(1) a script naming WebSocketServer fails to parse where the addon is absent")
	check(not control_text.contains("parsed and ran"), "(1) that script did not run")

	# (2) Host with the shared script.
	check(net.can_host(), "(2) can_host() is true where the addon is loaded")
	if not check_eq(net.host(0), OK, "(2) host(0)"):
		return
	net.received.connect(func(id, text): received.append([id, text]))
	keep_polled(net)
	var url := "ws://127.0.0.1:%d" % net.get_port()

	# (3) The client, in a Godot process on the project without the addon.
	var thread := Thread.new()
	thread.start(_run_client.bind(project, url))
	await wait_until(func(): return client_done, "(3) the client process to finish", 60.0)
	thread.wait_to_finish()
	print("client run (exit %d):\n%s" % [client_exit, _quoted(client_output)])
	check_eq(client_exit, 0, "(3) the client process's exit code")
	check(client_output.contains("client: PASS"), "(3) the client printed its PASS line")
	check(not client_output.contains("SCRIPT ERROR"), "(3) no SCRIPT ERROR in the client process")
	check_eq(received.size(), 1, "(3) messages the host received")
	if received.size() == 1:
		check_eq(received[0][1], "hello, can_host=false, web=false",
			"(3) the client's message: it ran where it could not host")


## Another process's output, indented, with its "SCRIPT ERROR" renamed so that the test runner,
## which fails a test on that text, judges this process's output only.
func _quoted(text: String) -> String:
	return text.strip_edges().replace("SCRIPT ERROR", "child's script error").indent("    ")


func _run_client(project: String, url: String) -> void:
	var output := []
	client_exit = OS.execute(OS.get_executable_path(), ["--headless", "--path", project,
		"--script", "res://demo/shared_scripts/run_client.gd", "--", url], output, true)
	client_output = "\n".join(output)
	client_done = true


## A project holding only the shared scripts and the control script; its absolute path, or "".
func _make_project_without_addon() -> String:
	var project := ProjectSettings.globalize_path("user://project_without_addon")
	var ok := DirAccess.make_dir_recursive_absolute(project.path_join("demo/shared_scripts")) == OK
	ok = ok and _write(project.path_join("project.godot"),
		"config_version=5\n\n[application]\n\nconfig/name=\"client without the addon\"\n")
	for path in SHARED:
		ok = ok and _write(project.path_join(path.trim_prefix("res://")), FileAccess.get_file_as_string(path))
	ok = ok and _write(project.path_join("names_the_class.gd"),
		"extends SceneTree\n\nfunc _initialize() -> void:\n\tvar server := WebSocketServer.new()\n\tprint(\"parsed and ran \", server)\n\tquit(0)\n")
	# Nothing may load the addon there: no addons/ folder, no extension list.
	ok = ok and not DirAccess.dir_exists_absolute(project.path_join("addons"))
	ok = ok and not FileAccess.file_exists(project.path_join(".godot/extension_list.cfg"))
	if not check(ok, "the project without the addon was written to %s" % project):
		return ""
	return project


func _write(path: String, text: String) -> bool:
	var file := FileAccess.open(path, FileAccess.WRITE)
	if file == null:
		fail("cannot write %s: %s" % [path, error_string(FileAccess.get_open_error())])
		return false
	file.store_string(text)
	file.close()
	return true
