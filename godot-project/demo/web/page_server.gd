extends Node
## A tiny static HTTP server for the chat demo's browser page (chat.html, chat.js, chat.css in
## this folder), so that whoever hosts the chat can hand out a link a browser opens as it is:
##
##   var pages = preload("res://demo/web/page_server.gd").new()
##   pages.ws_port = chat.get_port()    # the chat server's port, passed on in the link
##   add_child(pages)                   # it does its work in _process()
##   pages.start(8080)                  # 0 = any free port; binds to 127.0.0.1 unless told
##   print(pages.get_url())             # http://127.0.0.1:8080/?ws=9080
##
## Why a server at all: a page opened from file:// works too, but a link is what people share,
## and the page then connects to the host it came from. Why this small: it serves exactly the
## files of this folder to GET and HEAD, and nothing else.
##   * Only plain file names are served, with a known extension (see CONTENT_TYPES): no "/",
##     no leading ".", so no path can leave this folder, and scripts (.gd) are never sent.
##   * Every answer says "Connection: close" and the connection is closed once it is written
##     (a client still sending gets LINGER_MS to finish first): no keep-alive bookkeeping for a
##     page of three files.
##   * Nothing blocks the frame: requests are read, and answers written, as far as the socket
##     allows in each _process(); a request may arrive in pieces over many frames.
##   * A request head is bounded (MAX_REQUEST_BYTES), and so is the time a client may take
##     (REQUEST_TIMEOUT_MS) and the number of clients served at once (MAX_CONNECTIONS). Beyond
##     that a newcomer pushes out the oldest client that has not sent its whole request yet, so a
##     few idle sockets (a browser opens some in advance) cannot keep the page from loading.
##
## Exporting: .html, .js and .css files are not Godot resources, so an export leaves them out
## unless the export preset lists them under "Filters to export non-resource files/folders"
## (for example demo/web/*). They are read with FileAccess, which finds them in the exported pack.

## Emitted after each answer is queued (status 200, 404, ...; `path` as requested).
signal request_served(method: String, path: String, status: int)

## The file "/" serves.
const INDEX := "chat.html"
## Where the files come from.
const WEB_DIR := "res://demo/web/"
## The only file types served, by extension.
const CONTENT_TYPES := {
	"html": "text/html; charset=utf-8",
	"js": "text/javascript; charset=utf-8",
	"css": "text/css; charset=utf-8",
	"svg": "image/svg+xml",
	"png": "image/png",
	"ico": "image/x-icon",
	"json": "application/json",
	"txt": "text/plain; charset=utf-8",
}
## A request head (request line and headers) longer than this is answered with 431.
const MAX_REQUEST_BYTES := 8192
## Clients served at the same time (see _process() for what happens beyond).
const MAX_CONNECTIONS := 16
## A client that has not sent a whole request head by then gets 408; one that does not read its
## answer within twice that is dropped.
const REQUEST_TIMEOUT_MS := 10000
## After answering a client that may still be sending, the connection is closed once it has sent
## nothing for this long.
const LINGER_MS := 200
## What the browser may load: this server's files, WebSocket connections anywhere (the page's
## URL field can name any chat server), nothing else.
const CONTENT_SECURITY_POLICY := "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
const STATUS_TEXT := {
	200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
	408: "Request Timeout", 431: "Request Header Fields Too Large", 505: "HTTP Version Not Supported",
}

## The chat server's port: get_url() passes it to the page as "?ws=PORT".
var ws_port := 9080
## When true, every request is printed ("[page] GET /chat.js 200").
var verbose := false
## Answers queued so far.
var requests_served := 0

var _server := TCPServer.new()
var _bind := "127.0.0.1"
var _connections: Array[Connection] = []
var _file_name := RegEx.create_from_string("^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")


## One client: what it sent so far, then the answer being written.
class Connection:
	var peer: StreamPeerTCP
	var started_msec := 0
	var request := PackedByteArray()
	var answer := PackedByteArray()
	var written := 0
	## Whether the client may still be sending once answered (see _serve()).
	var linger := false
	var last_input_msec := 0


## Starts listening on `port` (0 = any free port) at `bind` ("127.0.0.1": this machine only;
## "*": every interface). Returns OK, ERR_ALREADY_IN_USE when already listening, or the error of
## TCPServer.listen().
func start(port: int = 0, bind: String = "127.0.0.1") -> Error:
	if _server.is_listening():
		return ERR_ALREADY_IN_USE
	var err := _server.listen(port, bind)
	if err == OK:
		_bind = bind
	return err


## The port listened on (the real one after start(0)), or 0 when not listening.
func get_port() -> int:
	return _server.get_local_port() if _server.is_listening() else 0


## The page's address, with the chat server's port: "http://127.0.0.1:PORT/?ws=WSPORT". The host
## is the bound address, or 127.0.0.1 when bound to every interface (the machine's LAN address is
## the one to give to others then).
func get_url() -> String:
	var host := "127.0.0.1"
	if _bind.is_valid_ip_address() and _bind != "0.0.0.0" and _bind != "::":
		host = ("[%s]" % _bind) if _bind.contains(":") else _bind
	return "http://%s:%d/?ws=%d" % [host, get_port(), ws_port]


## Stops listening and drops every connection, answered or not.
func stop() -> void:
	for connection in _connections:
		connection.peer.disconnect_from_host()
	_connections.clear()
	_server.stop()


func is_listening() -> bool:
	return _server.is_listening()


func _exit_tree() -> void:
	stop()


func _process(_delta: float) -> void:
	if not _server.is_listening():
		return
	while _server.is_connection_available():
		if _connections.size() >= MAX_CONNECTIONS and not _drop_oldest_reader():
			break  # every slot is busy answering: the others wait in the listen queue
		var connection := Connection.new()
		connection.peer = _server.take_connection()
		connection.started_msec = Time.get_ticks_msec()
		_connections.append(connection)
	for connection in _connections.duplicate():
		if not _serve(connection):
			connection.peer.disconnect_from_host()
			_connections.erase(connection)


## Drops the oldest connection still sending its request head; false when there is none.
func _drop_oldest_reader() -> bool:
	for connection in _connections:
		if connection.answer.is_empty():
			connection.peer.disconnect_from_host()
			_connections.erase(connection)
			return true
	return false


## Moves one connection on as far as its socket allows; false when it is done (or dead).
func _serve(connection: Connection) -> bool:
	var peer := connection.peer
	peer.poll()
	if peer.get_status() != StreamPeerTCP.STATUS_CONNECTED:
		return false
	var now := Time.get_ticks_msec()
	var age := now - connection.started_msec
	if connection.answer.is_empty():
		# Reading the request head: at most one byte past the limit, to know it was exceeded.
		var room := MAX_REQUEST_BYTES + 1 - connection.request.size()
		var available := peer.get_available_bytes()
		if available > 0 and room > 0:
			var got: Array = peer.get_partial_data(mini(available, room))
			if got[0] != OK:
				return false
			connection.request.append_array(got[1])
		var head_end := _find_head_end(connection.request)
		if head_end >= 0:
			connection.answer = _answer(connection.request.slice(0, head_end))
			# Bytes after the head (a body, a second request) are never read: drop them first.
			connection.linger = connection.request.size() > head_end + 4
		elif connection.request.size() > MAX_REQUEST_BYTES:
			connection.answer = _error_answer(431, "-", "(request head over %d bytes)" % MAX_REQUEST_BYTES)
			connection.linger = true
		elif age > REQUEST_TIMEOUT_MS:
			connection.answer = _error_answer(408, "-", "(no whole request within %d ms)" % REQUEST_TIMEOUT_MS)
			connection.linger = true
		else:
			return true
		connection.last_input_msec = now
	elif _drop_input(peer):
		connection.last_input_msec = now
	if connection.written < connection.answer.size():
		var sent: Array = peer.put_partial_data(connection.answer.slice(connection.written))
		if sent[0] != OK:
			return false
		connection.written += sent[1]
		if connection.written < connection.answer.size():
			return age < 2 * REQUEST_TIMEOUT_MS
	# Answered. Closing a socket that still has unread input resets the connection, and the reset
	# throws away the answer not yet delivered: a client that may still be sending is given time
	# to finish (LINGER_MS without input), and what it sends is read and dropped.
	if _drop_input(peer):
		connection.last_input_msec = now
		connection.linger = true
	if not connection.linger:
		return false
	return now - connection.last_input_msec < LINGER_MS and age < 2 * REQUEST_TIMEOUT_MS


## Reads and drops whatever the client sent; true when there was something.
func _drop_input(peer: StreamPeerTCP) -> bool:
	var available := peer.get_available_bytes()
	if available <= 0:
		return false
	peer.get_partial_data(available)
	return true


## The index of the blank line that ends the request head, or -1 while it is incomplete.
func _find_head_end(bytes: PackedByteArray) -> int:
	var i := bytes.find(13)
	while i >= 0 and i + 3 < bytes.size():
		if bytes[i + 1] == 10 and bytes[i + 2] == 13 and bytes[i + 3] == 10:
			return i
		i = bytes.find(13, i + 1)
	return -1


## The whole answer (status line, headers, body) to a request head.
func _answer(head: PackedByteArray) -> PackedByteArray:
	# Request heads are ASCII; anything else in them ends up in a name that matches no file.
	var request_line := head.get_string_from_ascii().get_slice("\r\n", 0)
	var parts := request_line.split(" ")
	if parts.size() != 3 or not parts[1].begins_with("/"):
		return _error_answer(400, "-", "(not a request line: %s)" % request_line.left(80).c_escape())
	var method := parts[0]
	var target := parts[1]
	if not parts[2].begins_with("HTTP/1."):
		return _error_answer(505, method, target)
	if method != "GET" and method != "HEAD":
		return _error_answer(405, method, target)
	# Not percent-decoded: the names served never need escapes, and "%2e%2e%2f" stays harmless.
	var file_name := target.get_slice("?", 0).get_slice("#", 0).substr(1)
	if file_name.is_empty():
		file_name = INDEX
	var content_type: String = CONTENT_TYPES.get(file_name.get_extension().to_lower(), "")
	if content_type.is_empty() or _file_name.search(file_name) == null \
			or not FileAccess.file_exists(WEB_DIR + file_name):
		return _error_answer(404, method, target)
	var body := FileAccess.get_file_as_bytes(WEB_DIR + file_name)
	if body.is_empty() and FileAccess.get_open_error() != OK:
		return _error_answer(404, method, target)
	return _build(200, method, target, content_type, body)


func _error_answer(status: int, method: String, target: String) -> PackedByteArray:
	var body := ("%d %s\n" % [status, STATUS_TEXT[status]]).to_utf8_buffer()
	return _build(status, method, target, "text/plain; charset=utf-8", body)


func _build(status: int, method: String, target: String, content_type: String,
		body: PackedByteArray) -> PackedByteArray:
	var head := PackedStringArray([
		"HTTP/1.1 %d %s" % [status, STATUS_TEXT[status]],
		"Content-Type: " + content_type,
		"Content-Length: %d" % body.size(),
		"Connection: close",
		# A demo page that changes while it is being worked on: browsers must not keep old copies.
		"Cache-Control: no-store",
		"X-Content-Type-Options: nosniff",
		"Content-Security-Policy: " + CONTENT_SECURITY_POLICY,
	])
	if status == 405:
		head.append("Allow: GET, HEAD")
	var answer := ("\r\n".join(head) + "\r\n\r\n").to_utf8_buffer()
	if method != "HEAD":
		answer.append_array(body)
	requests_served += 1
	if verbose:
		print("[page] %s %s %d" % [method, target, status])
	request_served.emit(method, target, status)
	return answer
