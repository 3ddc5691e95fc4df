extends Node
## A minimal dedicated game server, the one docs/DEPLOYING.md describes: make it the script of
## the server export's main scene (or an autoload). scripts/test-deploy-nginx.sh exports this
## very file and runs it behind nginx.
##
## Command line, after "--" (OS.get_cmdline_user_args()):
##   --port N     the port to listen on (default 9080; 0 picks a free one)
##   --bind IP    default 127.0.0.1: behind a proxy on the same machine, nobody else may connect
##   --tls DIR    serve wss:// itself, with DIR/privkey.pem, DIR/cert.pem and DIR/chain.pem
##
## Every message is echoed to its sender. The text "whoami" is answered with a JSON object:
## what the server knows about that connection (path, addresses, forwarded headers).

var server := WebSocketServer.new()
## True when the player's address may be taken from the proxy's X-Real-IP header.
var behind_proxy := false


func _ready() -> void:
	var options := {"port": "9080", "bind": "127.0.0.1", "tls": ""}
	var args := OS.get_cmdline_user_args()
	if args.size() % 2 != 0:
		_fail("expected --name value pairs, got %s" % [args])
		return
	for i in range(0, args.size(), 2):
		var name := args[i].trim_prefix("--")
		if not args[i].begins_with("--") or not options.has(name):
			_fail("unknown argument %s (known: --port, --bind, --tls)" % args[i])
			return
		options[name] = args[i + 1]
	if not options["port"].is_valid_int():
		_fail("--port must be a number, got %s" % options["port"])
		return

	if not options["tls"].is_empty() and not _load_tls(options["tls"]):
		return
	server.bind_ip = options["bind"]
	# Only a loopback listener is reachable by the local proxy alone; anyone could send the
	# forwarded headers to a server that listens on a public address.
	behind_proxy = server.bind_ip in ["127.0.0.1", "::1"] and options["tls"].is_empty()
	server.handshake_timeout = 3.0
	# Per player: 256 KiB (also the largest message accepted) and 1024 messages in, 1 MiB and
	# 4096 messages out. Only before listen().
	var buffers_err := server.set_buffers(256, 1024, 1024, 4096)
	if buffers_err != OK:
		_fail("set_buffers() failed: %s" % error_string(buffers_err))
		return

	server.client_connected.connect(_on_connected)
	server.client_disconnected.connect(_on_disconnected)
	server.data_received.connect(_on_data)
	var err := server.listen(int(options["port"]))
	if err != OK:
		_fail("cannot listen on %s:%s: %s" % [server.bind_ip, options["port"], error_string(err)])
		return
	print("game server listening on %s:%d (%s)" % [server.bind_ip, server.get_local_port(),
		"wss" if server.private_key != null else "ws"])


func _process(_delta: float) -> void:
	server.poll()


## Let's Encrypt's files, copied where the server's user may read them (see DEPLOYING.md).
## cert.pem and chain.pem are loaded apart: one X509Certificate holding the whole fullchain.pem
## would reach the TLS layer as its first certificate only.
func _load_tls(dir: String) -> bool:
	var key := CryptoKey.new()
	var cert := X509Certificate.new()
	var chain := X509Certificate.new()
	var err := key.load(dir.path_join("privkey.pem"))
	if err == OK:
		err = cert.load(dir.path_join("cert.pem"))
	if err == OK:
		err = chain.load(dir.path_join("chain.pem"))
	if err != OK:
		# An unreadable file (privkey.pem is root's alone) also ends up here.
		_fail("cannot load privkey.pem, cert.pem and chain.pem from %s: %s" % [dir, error_string(err)])
		return false
	server.private_key = key
	server.ssl_certificate = cert
	server.ca_chain = chain
	return true


## The player's address: the proxy's X-Real-IP when behind it, else the TCP peer.
func client_address(id: int) -> String:
	var headers := server.get_peer(id).get_request_headers()
	if behind_proxy and headers.has("x-real-ip"):
		return headers["x-real-ip"]
	return server.get_peer_address(id)


func _on_connected(id: int, _protocol: String) -> void:
	print("player %d connected from %s, path %s" % [id, client_address(id),
		server.get_peer(id).get_requested_url()])


func _on_disconnected(id: int, was_clean: bool) -> void:
	print("player %d left (clean: %s)" % [id, was_clean])


func _on_data(id: int) -> void:
	var peer := server.get_peer(id)
	var data := peer.get_packet()
	var text := peer.was_string_packet()
	var err := OK
	if text and data.get_string_from_utf8() == "whoami":
		var headers := peer.get_request_headers()
		err = peer.send_text(JSON.stringify({
			"path": peer.get_requested_url(),
			"client_address": client_address(id),
			"peer_address": server.get_peer_address(id),
			"x-real-ip": headers.get("x-real-ip", ""),
			"x-forwarded-for": headers.get("x-forwarded-for", ""),
			"x-forwarded-proto": headers.get("x-forwarded-proto", ""),
		}))
	else:
		err = peer.send(data, WebSocketPeer.WRITE_MODE_TEXT if text else WebSocketPeer.WRITE_MODE_BINARY)
	if err != OK:
		printerr("send to player %d failed: %s" % [id, error_string(err)])


## Exit code 1: systemd's Restart=on-failure starts the server again.
func _fail(why: String) -> void:
	printerr("game server: " + why)
	get_tree().quit(1)
