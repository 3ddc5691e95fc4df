extends Logger
## Collects the engine's error and warning messages (register with OS.add_logger, Godot >= 4.5),
## so a test checks what was reported instead of only printing it. Loggers are called from any
## thread, hence the mutex.

var _mutex := Mutex.new()
## [error_type, text] pairs, oldest first.
var _entries: Array = []


func _log_error(_function: String, _file: String, _line: int, code: String, rationale: String,
		_editor_notify: bool, error_type: int, _script_backtraces: Array[ScriptBacktrace]) -> void:
	_mutex.lock()
	_entries.append([error_type, code + (" " + rationale if not rationale.is_empty() else "")])
	_mutex.unlock()


## Messages of `error_type` (Logger.ERROR_TYPE_*; -1: every type) reported since the last take();
## clears all of them.
func take(error_type := -1) -> PackedStringArray:
	_mutex.lock()
	var out := PackedStringArray()
	for entry in _entries:
		if error_type == -1 or entry[0] == error_type:
			out.append(entry[1])
	_entries.clear()
	_mutex.unlock()
	return out
