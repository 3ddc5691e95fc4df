extends SceneTree
## Client half of tests/test_second_process.gd, run in a second Godot process:
##   godot --headless --path <project> --script res://tests/clients/echo_client.gd -- <port>
##
## With Godot's own WebSocketPeer it connects to ws://127.0.0.1:<port>, sends the texts
## "ping 1".."ping 20" and one 10,000-byte binary message, each time expecting the exact echo
## (a text stays text, binary stays binary). Then it reports its verdict to the server as a text
## message ("verdict:ok" or "verdict:fail:<why>"), sends "done", closes with 1000 "finished" and
## quits: exit code 0 when everything matched, 1 otherwise. It gives up with exit code 1 after 30 s.
## (The parent cannot read a create_process() child's exit code: the verdict message is what the
## server-side test checks; the exit code and the printed line are for humans and other runners.)

const SAFETY_TIMEOUT_S := 30.0
const STEP_TIMEOUT_S := 5.0
const PINGS := 20
const BINARY_SIZE := 10000

var ws := WebSocketPeer.new()
var _started_msec := 0
var _finished := false


func _initialize() -> void:
	_started_msec = Time.get_ticks_msec()
	OS.low_processor_usage_mode_sleep_usec = 1000
	_run.call_deferred()


func _process(_delta: float) -> bool:
	ws.poll()
	if not _finished and Time.get_ticks_msec() - _started_msec > int(SAFETY_TIMEOUT_S * 1000.0):
		print("echo_client: FAIL: gave up after %.0f s (state %d)" % [SAFETY_TIMEOUT_S, ws.get_ready_state()])
		_finish(1)
	return false


## The 10,000-byte binary message; tests/test_second_process.gd builds the same bytes.
static func binary_payload() -> PackedByteArray:
	var data := PackedByteArray()
	data.resize(BINARY_SIZE)
	for k in BINARY_SIZE:
		data[k] = (k * 31 + (k >> 8)) % 256
	return data


func _run() -> void:
	var args := OS.get_cmdline_user_args()
	if args.size() != 1 or not args[0].is_valid_int():
		print("echo_client: FAIL: usage: ... --script res://tests/clients/echo_client.gd -- <port>; got %s" % [args])
		_finish(1)
		return
	var url := "ws://127.0.0.1:%d" % int(args[0])
	var err := ws.connect_to_url(url)
	if err != OK:
		print("echo_client: FAIL: connect_to_url(%s) returned %s" % [url, error_string(err)])
		_finish(1)
		return
	if not await _wait_for_state(WebSocketPeer.STATE_OPEN, 10.0):
		print("echo_client: FAIL: could not open %s (state %d, close code %d)" % [url, ws.get_ready_state(), ws.get_close_code()])
		_finish(1)
		return

	var why := await _exchange()
	if _finished:
		return  # the safety timeout fired meanwhile
	var verdict := "verdict:ok" if why.is_empty() else "verdict:fail:" + why
	if ws.get_ready_state() == WebSocketPeer.STATE_OPEN:
		ws.send_text(verdict)
		ws.send_text("done")
		ws.close(1000, "finished")
		if not await _wait_for_state(WebSocketPeer.STATE_CLOSED, STEP_TIMEOUT_S):
			why = why if not why.is_empty() else "the closing handshake did not complete in %.0f s" % STEP_TIMEOUT_S
		elif ws.get_close_code() != 1000:
			why = why if not why.is_empty() else "close code %d, expected the server to echo 1000" % ws.get_close_code()
	elif why.is_empty():
		why = "connection lost before the verdict could be sent (state %d)" % ws.get_ready_state()
	if _finished:
		return
	if why.is_empty():
		print("echo_client: OK: %d texts and %d binary bytes echoed exactly" % [PINGS, BINARY_SIZE])
		_finish(0)
	else:
		print("echo_client: FAIL: ", why)
		_finish(1)


## Sends every message and checks its echo; returns "" or what went wrong.
func _exchange() -> String:
	for i in range(1, PINGS + 1):
		var text := "ping %d" % i
		var err := ws.send_text(text)
		if err != OK:
			return "send_text(%s) returned %s" % [text, error_string(err)]
		var got = await _next_packet()
		if got == null:
			return "no echo of \"%s\" within %.0f s" % [text, STEP_TIMEOUT_S]
		if not got[1]:
			return "echo of \"%s\" came back as a binary message" % text
		if got[0].get_string_from_utf8() != text:
			return "sent \"%s\", got back \"%s\"" % [text, got[0].get_string_from_utf8()]
	var payload := binary_payload()
	var err := ws.send(payload, WebSocketPeer.WRITE_MODE_BINARY)
	if err != OK:
		return "send(%d bytes) returned %s" % [BINARY_SIZE, error_string(err)]
	var got = await _next_packet()
	if got == null:
		return "no echo of the %d-byte binary message within %.0f s" % [BINARY_SIZE, STEP_TIMEOUT_S]
	if got[1]:
		return "echo of the binary message came back as text"
	if got[0] != payload:
		return "binary echo differs: %d bytes, expected %d" % [got[0].size(), BINARY_SIZE]
	return ""


## The next message as [PackedByteArray, was_string], or null after STEP_TIMEOUT_S or a close.
func _next_packet():
	var deadline := Time.get_ticks_msec() + int(STEP_TIMEOUT_S * 1000.0)
	while ws.get_available_packet_count() == 0:
		if _finished or Time.get_ticks_msec() > deadline or ws.get_ready_state() != WebSocketPeer.STATE_OPEN:
			return null
		await process_frame
	var data := ws.get_packet()
	return [data, ws.was_string_packet()]


func _wait_for_state(state: int, timeout_s: float) -> bool:
	var deadline := Time.get_ticks_msec() + int(timeout_s * 1000.0)
	while ws.get_ready_state() != state:
		if _finished or Time.get_ticks_msec() > deadline:
			return false
		if state == WebSocketPeer.STATE_OPEN and ws.get_ready_state() == WebSocketPeer.STATE_CLOSED:
			return false
		await process_frame
	return true


func _finish(code: int) -> void:
	if _finished:
		return
	_finished = true
	quit(code)
