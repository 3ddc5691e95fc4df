extends "res://tests/lib/test_base.gd"
## update_tls(): certificate renewal while listening on wss://, in both classes, against Godot's
## own clients. Two self-signed certificates A and B tell which one is served: a client trusting
## only A (TLSOptions.client(cert_a)) connects while A is served and is refused once B is, and the
## other way round for B. A connection made before the update keeps echoing after it. Errors
## (mismatched or unreadable pair, null arguments, not listening, ws://) return an Error, say why
## with push_error, and change nothing: the previous certificate is still served and the
## properties still report it. After stop() + listen() the new certificate is served.

const ErrorLog = preload("res://tests/lib/error_log.gd")

var crypto := Crypto.new()
var key_a: CryptoKey
var cert_a: X509Certificate
var key_b: CryptoKey
var cert_b: X509Certificate
var catcher := ErrorLog.new()


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketMultiplayerServer"), "the extension is loaded"):
		return
	OS.add_logger(catcher)
	key_a = crypto.generate_rsa(2048)
	cert_a = crypto.generate_self_signed_certificate(key_a, "CN=localhost,O=A,C=US")
	key_b = crypto.generate_rsa(2048)
	cert_b = crypto.generate_self_signed_certificate(key_b, "CN=localhost,O=B,C=US")
	for multiplayer_mode in [false, true]:
		await test_renewal(multiplayer_mode)
	await test_not_listening_and_ws()
	OS.remove_logger(catcher)


# --- both modes through one interface ----------------------------------------------------------

## A listening wss:// server of either class serving A, polled, echoing every message back to its
## sender (raw mode: data_received; multiplayer mode: read in a polled Callable).
func start_wss(multiplayer_mode: bool) -> Object:
	var server: Object = WebSocketMultiplayerServer.new() if multiplayer_mode else WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	server.private_key = key_a
	server.ssl_certificate = cert_a
	if not check_eq(server.listen(0), OK, "%s: listen() with A" % mode_name(multiplayer_mode)):
		return null
	keep_polled(server)
	if multiplayer_mode:
		server.peer_packet.connect(func(_id):
			while server.get_available_packet_count() > 0:
				var from: int = server.get_packet_peer()
				var data: PackedByteArray = server.get_packet()
				server.set_target_peer(from)
				server.put_packet(data))
	else:
		server.data_received.connect(func(id):
			var peer: WebSocketServerPeer = server.get_peer(id)
			peer.put_packet(peer.get_packet()))
	return server


func mode_name(multiplayer_mode: bool) -> String:
	return "multiplayer" if multiplayer_mode else "raw"


## A Godot client of the mode's kind, trusting only `trusted`, connecting (not waited for).
func start_client(server: Object, multiplayer_mode: bool, trusted: X509Certificate) -> Object:
	var url := "wss://127.0.0.1:%d" % server.get_local_port()
	var options := TLSOptions.client(trusted, "localhost")
	var client: Object
	if multiplayer_mode:
		client = WebSocketMultiplayerPeer.new()
		client.create_client(url, options)
	else:
		client = WebSocketPeer.new()
		client.connect_to_url(url, options)
	keep_polled(client)
	return client


func is_open(client: Object) -> bool:
	if client is WebSocketMultiplayerPeer:
		return client.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED
	return client.get_ready_state() == WebSocketPeer.STATE_OPEN


func is_closed(client: Object) -> bool:
	if client is WebSocketMultiplayerPeer:
		return client.get_connection_status() == MultiplayerPeer.CONNECTION_DISCONNECTED
	return client.get_ready_state() == WebSocketPeer.STATE_CLOSED


## Whether a client trusting only `trusted` gets connected (true) or refused (false).
func connects(server: Object, multiplayer_mode: bool, trusted: X509Certificate, what: String) -> bool:
	var client := start_client(server, multiplayer_mode, trusted)
	var ever_open := [false]
	await wait_until(func():
		ever_open[0] = ever_open[0] or is_open(client)
		return ever_open[0] or is_closed(client), what + ": the client connects or gives up", 15.0)
	if ever_open[0]:
		close_client(client)
	else:
		stop_polling(client)
	return ever_open[0]


## A connected client trusting only `trusted`, or null.
func open_client(server: Object, multiplayer_mode: bool, trusted: X509Certificate, what: String) -> Object:
	var client := start_client(server, multiplayer_mode, trusted)
	await wait_until(func(): return is_open(client) or is_closed(client), what + ": the client connects", 15.0)
	if not check(is_open(client), what + ": the client is connected"):
		stop_polling(client)
		return null
	return client


func close_client(client: Object) -> void:
	client.close()
	stop_polling(client)


## Sends `text` and checks that it comes back.
func check_echo(client: Object, text: String, what: String) -> bool:
	if client is WebSocketMultiplayerPeer:
		client.set_target_peer(1)
		client.put_packet(text.to_utf8_buffer())
	else:
		client.send_text(text)
	if not await wait_until(func(): return client.get_available_packet_count() > 0, what + ": the echo arrives", 10.0):
		return false
	return check_eq(client.get_packet().get_string_from_utf8(), text, what + ": echoed text")


# --- tests -------------------------------------------------------------------------------------

func test_renewal(multiplayer_mode: bool) -> void:
	var m := mode_name(multiplayer_mode)
	print("--- ", m, " mode")
	var server := start_wss(multiplayer_mode)
	if server == null:
		return
	var first := await open_client(server, multiplayer_mode, cert_a, m + ": client trusting A before the update")
	if first == null:
		server.stop()
		return
	await check_echo(first, "before", m + ": first connection before the update")
	check(not await connects(server, multiplayer_mode, cert_b, m + " B before"),
		m + ": a client trusting only B is refused while A is served")

	# Refused updates change nothing.
	catcher.take()
	check_eq(server.update_tls(key_a, cert_b), ERR_INVALID_PARAMETER, m + ": update_tls(key of A, certificate B)")
	var errors := catcher.take(Logger.ERROR_TYPE_ERROR)
	check(errors.size() == 1 and errors[0].contains("update_tls()") and errors[0].contains("does not match"),
		m + ": one error saying the key does not match the certificate: %s" % [errors])
	check_eq(server.update_tls(null, cert_b), ERR_INVALID_PARAMETER, m + ": update_tls(null, certificate B)")
	check_eq(server.update_tls(key_b, null), ERR_INVALID_PARAMETER, m + ": update_tls(key B, null)")
	check_eq(server.update_tls(CryptoKey.new(), cert_b), ERR_INVALID_PARAMETER, m + ": update_tls(empty CryptoKey, certificate B)")
	check_eq(server.update_tls(key_b, X509Certificate.new()), ERR_INVALID_PARAMETER, m + ": update_tls(key B, empty X509Certificate)")
	errors = catcher.take(Logger.ERROR_TYPE_ERROR)
	check_eq(errors.size(), 4, m + ": one error per refused update: %s" % [errors])
	check(server.private_key == key_a and server.ssl_certificate == cert_a and server.ca_chain == null,
		m + ": the properties still report A after the refused updates")
	check(await connects(server, multiplayer_mode, cert_a, m + " A after refused updates"),
		m + ": a client trusting only A still connects after the refused updates")

	# The renewal.
	check_eq(server.update_tls(key_b, cert_b), OK, m + ": update_tls(key B, certificate B)")
	check_eq(catcher.take(Logger.ERROR_TYPE_ERROR), PackedStringArray(), m + ": no error from a valid update")
	check(server.private_key == key_b and server.ssl_certificate == cert_b and server.ca_chain == null,
		m + ": private_key / ssl_certificate / ca_chain report B after the update")
	check(not await connects(server, multiplayer_mode, cert_a, m + " A after"),
		m + ": a client trusting only A is refused once B is served")
	var second := await open_client(server, multiplayer_mode, cert_b, m + ": client trusting B after the update")
	if second != null:
		await check_echo(second, "after", m + ": new connection after the update")
		close_client(second)
	check(is_open(first), m + ": the first connection is still open after the update")
	await check_echo(first, "still here", m + ": first connection after the update")

	# ca_chain: extra certificates sent after the leaf (clients trusting the leaf ignore them).
	check_eq(server.update_tls(key_a, cert_a, cert_b), OK, m + ": update_tls(key A, certificate A, ca_chain B)")
	check(server.private_key == key_a and server.ssl_certificate == cert_a and server.ca_chain == cert_b,
		m + ": the properties report A with ca_chain B")
	check(await connects(server, multiplayer_mode, cert_a, m + " A again"),
		m + ": a client trusting only A connects again")
	check_eq(server.update_tls(key_b, cert_b), OK, m + ": update_tls(key B, certificate B) again")
	check(server.ca_chain == null, m + ": ca_chain left out of update_tls() is null afterwards")
	await check_echo(first, "twice", m + ": first connection after two more updates")
	close_client(first)

	# A restart uses what update_tls() set.
	server.stop()
	check_eq(server.listen(0), OK, m + ": listen() again after stop()")
	check(await connects(server, multiplayer_mode, cert_b, m + " B after restart"),
		m + ": after stop() + listen(), B is served")
	server.stop()
	stop_polling(server)
	disconnect_all(server)


func test_not_listening_and_ws() -> void:
	print("--- not listening, ws://")
	for server in [WebSocketServer.new(), WebSocketMultiplayerServer.new()]:
		var c: String = server.get_class()
		catcher.take()
		check_eq(server.update_tls(key_b, cert_b), ERR_UNCONFIGURED, c + ": update_tls() while not listening")
		var errors := catcher.take(Logger.ERROR_TYPE_ERROR)
		check(errors.size() == 1 and errors[0].contains("not listening"), c + ": the error says it is not listening: %s" % [errors])
		check(server.private_key == null and server.ssl_certificate == null, c + ": nothing set by the refused update")
		server.bind_ip = "127.0.0.1"
		check_eq(server.listen(0), OK, c + ": listen() on ws://")
		check_eq(server.update_tls(key_b, cert_b), ERR_UNCONFIGURED, c + ": update_tls() on a ws:// server")
		errors = catcher.take(Logger.ERROR_TYPE_ERROR)
		check(errors.size() == 1 and errors[0].contains("ws://"), c + ": the error says the server serves ws://: %s" % [errors])
		check(server.private_key == null and server.ssl_certificate == null, c + ": still no certificate on the ws:// server")
		server.stop()
