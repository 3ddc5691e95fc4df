extends "res://tests/lib/test_base.gd"
## Base of the multiplayer tests that run stock Godot 4 clients in other processes
## (tests/mp/client_main.gd): starting them, reading how they ended, and making sure none is
## left running.

const Client := preload("res://tests/mp/client_main.gd")

## Client name -> process id.
var children: Dictionary = {}


## Starts a stock client in a new Godot process; see client_main.gd for the arguments.
func start_client(port: int, client_name: String, node_script: String, node_name: String, protocol := "") -> int:
	var args := PackedStringArray(["--headless", "--path", ProjectSettings.globalize_path("res://"),
		"--script", "res://tests/mp/client_main.gd", "--", str(port), client_name, node_script, node_name])
	if protocol != "":
		args.append(protocol)
	var pid := OS.create_process(OS.get_executable_path(), args)
	check(pid > 0, "OS.create_process() of client %s returned a pid (got %d)" % [client_name, pid])
	children[client_name] = pid
	return pid


func is_running(client_name: String) -> bool:
	return OS.is_process_running(children[client_name])


static func exit_name(code: int) -> String:
	match code:
		Client.EXIT_SERVER_DISCONNECTED: return "%d (server_disconnected)" % code
		Client.EXIT_CONNECTION_FAILED: return "%d (connection_failed)" % code
		Client.EXIT_TIMEOUT: return "%d (gave up after %d s)" % [code, Client.LIFETIME_S]
		Client.EXIT_BAD_START: return "%d (could not start)" % code
		Client.EXIT_REQUESTED: return "%d (quit when asked)" % code
	return "%d" % code


## Waits for client `client_name` to exit and checks its exit code.
func check_exit(client_name: String, expected_code: int, why: String, timeout_s := 20.0) -> bool:
	var pid: int = children[client_name]
	if not await wait_until(func(): return not OS.is_process_running(pid),
			"client %s to exit (%s)" % [client_name, why], timeout_s):
		return false
	return check_eq(exit_name(OS.get_process_exit_code(pid)), exit_name(expected_code),
		"client %s exit code (%s)" % [client_name, why])


## Fails for, and kills, every client still running. Call at the end of every test.
func reap_children() -> void:
	for client_name in children:
		var pid: int = children[client_name]
		if OS.is_process_running(pid):
			fail("client %s (pid %d) was still running at the end of the test: killed" % [client_name, pid])
			OS.kill(pid)
