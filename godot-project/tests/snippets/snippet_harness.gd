extends "res://tests/lib/test_base.gd"
## Base of the drivers that run one GDScript snippet of the documentation; the convention is
## described at the top of scripts/check-doc-snippets.py. That checker writes the snippet to
## res://snippet.gd of a fresh project, what it knows about it to res://snippet.json, and runs a
## driver of this folder (the snippet's `harness=`) as the main script.
##
## A driver implements drive(): run the snippet and check that what it shows really happens (a
## client connects, a message comes back), not merely that it ran. Then the snippet's `expect=`
## patterns must each match a line the process printed (waited for, so output that follows a
## disconnect still counts), and teardown() releases what drive() made; the snippet's nodes are
## freed last, so nothing is left at exit to be reported as leaked.

const SNIPPET_PATH := "res://snippet.gd"


## Records everything printed, so `expect=` patterns are checked against the process's output.
## Loggers are called from any thread, hence the mutex.
class OutputLog extends Logger:
	var _mutex := Mutex.new()
	var _lines: PackedStringArray = []

	func _log_message(message: String, _error: bool) -> void:
		_mutex.lock()
		_lines.append_array(message.split("\n", false))
		_mutex.unlock()

	func has_match(regex: RegEx) -> bool:
		_mutex.lock()
		var found := false
		for line in _lines:
			if regex.search(line) != null:
				found = true
				break
		_mutex.unlock()
		return found


## res://snippet.json: file, line, kind, harness, ports (those the block names, in order),
## expect (patterns).
var info: Dictionary = {}
var output := OutputLog.new()
var _snippet_nodes: Array = []


func run_tests() -> void:
	var parsed = JSON.parse_string(FileAccess.get_file_as_string("res://snippet.json"))
	if not check(parsed is Dictionary, "res://snippet.json holds the snippet's description"):
		return
	info = parsed
	OS.add_logger(output)
	await drive()
	for pattern in info.get("expect", []):
		var regex := RegEx.create_from_string(pattern)
		if check(regex.is_valid(), "expect=\"%s\" is a valid regular expression" % pattern):
			await wait_until(func(): return output.has_match(regex),
				"the run to print a line matching expect=\"%s\"" % pattern)
	await teardown()
	for node in _snippet_nodes:
		if is_instance_valid(node):
			node.free()
	_snippet_nodes.clear()
	OS.remove_logger(output)


## As test_base.gd's, but on stdout: the checker fails a snippet on anything on stderr, so there
## stderr holds only what the snippet and the engine reported.
func fail(what: String) -> void:
	_failures.append(what)
	print("FAIL: ", what)


## Implemented by each driver.
func drive() -> void:
	fail("this driver does not override drive()")


## Releases what drive() made (the snippet's nodes are freed after it anyway).
func teardown() -> void:
	pass


## The ports the block names (listen(N), ws://host:N), in the order they appear.
func ports() -> Array:
	return info.get("ports", []).map(func(p): return int(p))


## The snippet's script, compiled; null (and a failed check) when it does not compile.
func load_snippet() -> Script:
	var script = load(SNIPPET_PATH)
	if not check(script is Script and script.can_instantiate(), "the snippet compiles"):
		return null
	return script


## A node of the snippet's script, named `node_name`, added under `parent` (its _ready() runs);
## null when the script does not compile or is not a Node.
func add_snippet(parent: Node, node_name: String) -> Node:
	var script := load_snippet()
	if script == null:
		return null
	var node = script.new()
	if not check(node is Node, "the snippet's script extends Node (got %s)" % [node]):
		if node is Object and not node is RefCounted:
			node.free()
		return null
	_snippet_nodes.append(node)
	node.name = node_name
	parent.add_child(node)
	return node


## Runs the statements of a `body` snippet (func snippet_body() of the generated script).
func run_body(node: Node) -> void:
	if node.has_method("snippet_body"):
		await node.snippet_body()


func wait_frames(count: int) -> void:
	for i in count:
		await process_frame
