extends "res://tests/lib/test_base.gd"
## wss:// (rustls): a key and a self-signed certificate from Godot's Crypto, Godot 4's own
## WebSocketPeer as the client (trusting that certificate through TLSOptions.client()).
## Echo of text and binary, close codes both ways, 50 concurrent TLS clients, clients that must be
## refused (untrusting, plain ws://, silent raw TCP) while the server keeps serving, the errors of
## listen(), TLS settings refused while listening, and plain ws:// again after stop().
##
## push_error/push_warning messages are caught with a Logger (OS.add_logger), so the "expired"
## warning and the "refused while listening" errors are checked, not just printed.

const ErrorLog = preload("res://tests/lib/error_log.gd")

const SUBJECT := "CN=localhost,O=Test,C=US"
const CONCURRENT_CLIENTS := 50
const MESSAGES_PER_CLIENT := 5
const BINARY_SIZE := 70000  # several TLS records (16 KiB each)


var crypto := Crypto.new()
var key: CryptoKey
var cert: X509Certificate
## A second keypair: the key that does not match `cert`, and its own certificate.
var other_key: CryptoKey
var other_cert: X509Certificate
var catcher := ErrorLog.new()
## Every signal of every tracked server: [server instance id, kind, peer id, ...].
var events: Array = []
var echo_errors: PackedStringArray = []


func run_tests() -> void:
	if not check(ClassDB.class_exists("WebSocketServer"), "class WebSocketServer is registered (extension loaded)"):
		return
	OS.add_logger(catcher)
	var started := Time.get_ticks_msec()
	key = crypto.generate_rsa(2048)
	cert = crypto.generate_self_signed_certificate(key, SUBJECT)
	other_key = crypto.generate_rsa(2048)
	other_cert = crypto.generate_self_signed_certificate(other_key, "CN=other,O=Test,C=US")
	check(key != null and cert != null and other_key != null and other_cert != null, "Crypto generated two keys and self-signed certificates")
	print("keys + certificates generated in %d ms" % (Time.get_ticks_msec() - started))
	await test_echo_text_and_binary()
	await test_close_codes_both_ways()
	await test_concurrent_tls_clients()
	await test_untrusting_client_is_refused()
	await test_plain_ws_client_is_refused()
	await test_silent_raw_tcp_is_dropped()
	test_listen_errors()
	await test_tls_settings_refused_while_listening()
	await test_plain_ws_after_stop()
	await test_chain_in_one_certificate()
	check_eq(echo_errors, PackedStringArray(), "errors in the servers' echo handlers")
	OS.remove_logger(catcher)


# --- helpers -------------------------------------------------------------------------------

func section(name: String) -> void:
	print("--- ", name, " (t=%.1f s)" % ((Time.get_ticks_msec() - _started_msec) / 1000.0))


## Records the signals of `server`, echoes every message back (text as text, binary as binary)
## and keeps it polled.
func track(server: WebSocketServer) -> WebSocketServer:
	var sid := server.get_instance_id()
	server.client_connected.connect(func(id, protocol): events.append([sid, "connected", id, protocol]))
	server.client_close_request.connect(func(id, code, reason): events.append([sid, "close_request", id, code, reason]))
	server.client_disconnected.connect(func(id, clean): events.append([sid, "disconnected", id, clean]))
	server.data_received.connect(func(id):
		var peer: WebSocketServerPeer = server.get_peer(id)
		if peer == null:
			echo_errors.append("data_received(%d) but get_peer() returned null" % id)
			return
		var data := peer.get_packet()
		events.append([sid, "data", id, data.size(), peer.was_string_packet()])
		peer.set_write_mode(WebSocketPeer.WRITE_MODE_TEXT if peer.was_string_packet() else WebSocketPeer.WRITE_MODE_BINARY)
		var err := peer.put_packet(data)
		if err != OK:
			echo_errors.append("put_packet() to peer %d returned %s" % [id, error_string(err)]))
	keep_polled(server)
	return server


## A listening wss:// server on 127.0.0.1 (tracked, echoing), or null when listen() failed.
func wss_server(what: String, with_key: CryptoKey, with_cert: X509Certificate, handshake_timeout := 0.0) -> WebSocketServer:
	var server := WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	server.private_key = with_key
	server.ssl_certificate = with_cert
	if handshake_timeout > 0.0:
		server.handshake_timeout = handshake_timeout
	if not check_eq(server.listen(0), OK, what + ": listen() with private_key and ssl_certificate"):
		return null
	return track(server)


func wss_url(server: WebSocketServer) -> String:
	return "wss://127.0.0.1:%d" % server.get_local_port()


func trusting() -> TLSOptions:
	return TLSOptions.client(cert, "localhost")


func events_of(server: WebSocketServer, kind: String, id := -1) -> Array:
	var sid := server.get_instance_id()
	return events.filter(func(e): return e[0] == sid and e[1] == kind and (id == -1 or e[2] == id))


## A client connecting to `url`, polled; not waited for.
func start_client(url: String, options: TLSOptions, what: String) -> WebSocketPeer:
	var client := WebSocketPeer.new()
	client.inbound_buffer_size = 1 << 20  # the default 64 KiB is smaller than BINARY_SIZE
	client.outbound_buffer_size = 1 << 20
	check_eq(client.connect_to_url(url, options), OK, "%s: connect_to_url(%s)" % [what, url])
	keep_polled(client)
	return client


## A client connected to `server` and the id the server gave it: [client, id] (id -1 on failure).
func open_client(server: WebSocketServer, url: String, options: TLSOptions, what: String) -> Array:
	var before := events_of(server, "connected").size()
	var client := start_client(url, options, what)
	await wait_until(func(): return client.get_ready_state() != WebSocketPeer.STATE_CONNECTING,
		what + ": client leaves CONNECTING", 10.0)
	if not check_eq(client.get_ready_state(), WebSocketPeer.STATE_OPEN, what + ": client state after connecting (close code %d)" % client.get_close_code()):
		return [client, -1]
	if not await wait_until(func(): return events_of(server, "connected").size() > before, what + ": client_connected"):
		return [client, -1]
	return [client, events_of(server, "connected")[-1][2]]


## Sends `payload` (text or binary) and checks that the same message comes back, of the same kind.
func check_echo(client: WebSocketPeer, payload: PackedByteArray, text: bool, what: String) -> bool:
	var err := client.send(payload, WebSocketPeer.WRITE_MODE_TEXT if text else WebSocketPeer.WRITE_MODE_BINARY)
	if not check_eq(err, OK, what + ": send()"):
		return false
	if not await wait_until(func(): return client.get_available_packet_count() > 0, what + ": the echo arrives"):
		return false
	var got := client.get_packet()
	var ok := check_eq(client.was_string_packet(), text, what + ": echo is a %s message" % ("text" if text else "binary"))
	if text:
		ok = check_eq(got.get_string_from_utf8(), payload.get_string_from_utf8(), what + ": echoed text") and ok
	else:
		ok = check(got == payload, what + ": echoed %d binary bytes identical (got %d bytes)" % [payload.size(), got.size()]) and ok
	return ok


## Waits until `client` is CLOSED and a while more; checks it never was OPEN.
func check_refused(client: WebSocketPeer, what: String, timeout_s := 8.0) -> void:
	var seen := []
	var record := func():
		var state := client.get_ready_state()
		if not seen.has(state):
			seen.append(state)
		return state == WebSocketPeer.STATE_CLOSED
	var started := Time.get_ticks_msec()
	await wait_until(record, what + ": the refused client reaches CLOSED", timeout_s)
	print("%s: client CLOSED after %d ms (close code %d)" % [what, Time.get_ticks_msec() - started, client.get_close_code()])
	var deadline := Time.get_ticks_msec() + 500  # a late accept would still show up as OPEN
	while Time.get_ticks_msec() < deadline:
		record.call()
		await process_frame
	check(not seen.has(WebSocketPeer.STATE_OPEN), "%s: the client never reaches OPEN (states seen %s)" % [what, seen])


## Opens a raw TCP connection; returns it once connected (or null).
func raw_connect(port: int, what: String) -> StreamPeerTCP:
	var tcp := StreamPeerTCP.new()
	if not check_eq(tcp.connect_to_host("127.0.0.1", port), OK, what + ": raw TCP connect_to_host"):
		return null
	await wait_until(func():
		tcp.poll()
		return tcp.get_status() != StreamPeerTCP.STATUS_CONNECTING, what + ": raw TCP client connects")
	if not check_eq(tcp.get_status(), StreamPeerTCP.STATUS_CONNECTED, what + ": raw TCP client status"):
		return null
	return tcp


## Whether the server has closed `tcp` (anything it sent first is read and discarded).
func raw_is_closed(tcp: StreamPeerTCP) -> bool:
	tcp.poll()
	if tcp.get_status() != StreamPeerTCP.STATUS_CONNECTED:
		return true
	var available := tcp.get_available_bytes()
	if available > 0:
		var result: Array = tcp.get_partial_data(available)
		if result[0] != OK:
			return true
	return tcp.get_status() != StreamPeerTCP.STATUS_CONNECTED


func teardown(server: WebSocketServer, clients: Array) -> void:
	for client in clients:
		client.close()
		stop_polling(client)
	if server != null:
		server.stop()
		disconnect_all(server)
		stop_polling(server)


func text_bytes(text: String) -> PackedByteArray:
	return text.to_utf8_buffer()


func binary_bytes(size: int) -> PackedByteArray:
	var data := PackedByteArray()
	data.resize(size)
	for k in size:
		data[k] = (k * 31 + (k >> 8)) % 256
	return data


# --- tests ---------------------------------------------------------------------------------

## (a) A trusting client over wss://: text and binary echo, the kind of message kept.
func test_echo_text_and_binary() -> void:
	section("(a) echo over wss://")
	var server := wss_server("(a)", key, cert)
	if server == null:
		return
	check_eq(catcher.take(Logger.ERROR_TYPE_WARNING), PackedStringArray(), "(a) no warning from listen() with a valid certificate")
	var pair := await open_client(server, wss_url(server), trusting(), "(a) trusting client")
	var client: WebSocketPeer = pair[0]
	if pair[1] != -1:
		await check_echo(client, text_bytes("héllo wss ✓"), true, "(a) text")
		await check_echo(client, binary_bytes(BINARY_SIZE), false, "(a) binary")
		# An empty message reaches the script (its echo is checked with Python, in
		# scripts/run-client-tests.sh).
		check_eq(client.send_text(""), OK, "(a) send_text(\"\")")
		if await wait_until(func(): return events_of(server, "data", pair[1]).any(func(e): return e[3] == 0), "(a) data_received for the empty message"):
			var empty: Array = events_of(server, "data", pair[1]).filter(func(e): return e[3] == 0)[0]
			check_eq(empty[4], true, "(a) the empty message was_string_packet()")
		var peer: WebSocketServerPeer = server.get_peer(pair[1])
		if check(peer != null, "(a) get_peer(id)"):
			check_eq(peer.get_connected_host(), "127.0.0.1", "(a) peer.get_connected_host()")
	teardown(server, [client])


## (i) ssl_certificate loaded from one PEM file holding two certificates (as a fullchain.pem
## does). Godot's X509Certificate repeats its first certificate when saved, losing the second:
## listen() must say so in a warning (and serve the leaf once), not fail silently; with an engine
## that keeps the chain, no warning.
func test_chain_in_one_certificate() -> void:
	section("(i) a certificate chain in one X509Certificate")
	var chain := X509Certificate.new()
	check_eq(chain.load_from_string(pem_of(cert) + "\n" + pem_of(other_cert)), OK,
		"(i) load_from_string() of two PEM certificates")
	var saved := pem_of(chain)
	var engine_repeats := saved.count("-----BEGIN CERTIFICATE-----") == 2 \
		and saved.get_slice("-----END CERTIFICATE-----", 0).get_slice("-----BEGIN CERTIFICATE-----", 1) \
			== saved.get_slice("-----END CERTIFICATE-----", 1).get_slice("-----BEGIN CERTIFICATE-----", 1)
	print("(i) this engine repeats the first certificate of a chain when saving: ", engine_repeats)
	catcher.take()
	var server := wss_server("(i)", key, chain)
	if server == null:
		return
	var warnings := catcher.take(Logger.ERROR_TYPE_WARNING)
	if engine_repeats:
		check(warnings.size() == 1 and warnings[0].contains("ssl_certificate holds 2 certificates")
			and warnings[0].contains("ca_chain"), "(i) one warning that the chain was lost, naming ca_chain (got %s)" % [warnings])
	else:
		check_eq(warnings, PackedStringArray(), "(i) no warning when the engine keeps the chain")
	var pair := await open_client(server, wss_url(server), trusting(), "(i) client trusting the leaf")
	if pair[1] != -1:
		await check_echo(pair[0], text_bytes("chain"), true, "(i) text")
	teardown(server, [pair[0]])


## save_to_string() without the engine's "Unicode parsing error" about the NUL it ends with
## (godotengine/godot#123013), and without that NUL (or the U+FFFD it becomes).
func pem_of(certificate: X509Certificate) -> String:
	Engine.print_error_messages = false
	var text := certificate.save_to_string()
	Engine.print_error_messages = true
	# Cut after the last END line (a NUL cannot be written as a literal: char(0) in a script is
	# folded when it compiles, which prints the same error).
	var end := text.rfind("-----END CERTIFICATE-----")
	return text.substr(0, end + "-----END CERTIFICATE-----".length()).replace(char(0xFFFD), "")


## (b) Client close 4000 "bye" -> client_close_request(id, 4000, "bye") + client_disconnected(id,
## true); disconnect_peer(id, 4001, "kick") -> the client sees 4001 "kick".
func test_close_codes_both_ways() -> void:
	section("(b) close codes over wss://")
	var server := wss_server("(b)", key, cert)
	if server == null:
		return
	var a := await open_client(server, wss_url(server), trusting(), "(b) client A")
	var b := await open_client(server, wss_url(server), trusting(), "(b) client B")
	if a[1] == -1 or b[1] == -1:
		teardown(server, [a[0], b[0]])
		return
	var client_a: WebSocketPeer = a[0]
	var client_b: WebSocketPeer = b[0]
	var id_a: int = a[1]
	var id_b: int = b[1]

	client_a.close(4000, "bye")
	if await wait_until(func(): return events_of(server, "disconnected", id_a).size() > 0, "(b) client_disconnected after the client's close"):
		var requests := events_of(server, "close_request", id_a)
		check_eq(requests.size(), 1, "(b) one client_close_request for client A")
		if requests.size() == 1:
			check_eq(requests[0].slice(3), [4000, "bye"], "(b) client_close_request(id, code, reason)")
		check_eq(events_of(server, "disconnected", id_a).map(func(e): return e[3]), [true], "(b) client_disconnected(id, was_clean_close) for client A")
	# Only the state: over wss:// Godot 4.6's WebSocketPeer reports close code -1 after a close it
	# started, whatever the server (Python websockets' server too). The echoed 4000 is checked
	# with Python (scripts/run-client-tests.sh).
	await wait_until(func(): return client_a.get_ready_state() == WebSocketPeer.STATE_CLOSED, "(b) client A reaches CLOSED")

	server.disconnect_peer(id_b, 4001, "kick")
	if await wait_until(func(): return client_b.get_ready_state() == WebSocketPeer.STATE_CLOSED, "(b) client B reaches CLOSED after disconnect_peer(id, 4001, \"kick\")"):
		check_eq(client_b.get_close_code(), 4001, "(b) client B's close code after disconnect_peer")
		check_eq(client_b.get_close_reason(), "kick", "(b) client B's close reason after disconnect_peer")
	if await wait_until(func(): return events_of(server, "disconnected", id_b).size() > 0, "(b) client_disconnected for client B"):
		check_eq(events_of(server, "disconnected", id_b).map(func(e): return e[3]), [true], "(b) client_disconnected(id, was_clean_close) for client B")
	check_eq(events_of(server, "close_request", id_b).size(), 0, "(b) no client_close_request when the server started the close")
	teardown(server, [client_a, client_b])


## (c) 50 TLS clients connect in the same frame; each echoes 5 messages; all close cleanly.
func test_concurrent_tls_clients() -> void:
	section("(c) %d concurrent TLS clients" % CONCURRENT_CLIENTS)
	var server := wss_server("(c)", key, cert)
	if server == null:
		return
	var started := Time.get_ticks_msec()
	var clients: Array[WebSocketPeer] = []
	for i in CONCURRENT_CLIENTS:
		clients.append(start_client(wss_url(server), trusting(), "(c) client %d" % i))
	var all_open := func():
		return clients.all(func(c): return c.get_ready_state() == WebSocketPeer.STATE_OPEN)
	var settled := func():
		return clients.all(func(c): return c.get_ready_state() != WebSocketPeer.STATE_CONNECTING)
	await wait_until(func(): return settled.call() and events_of(server, "connected").size() >= CONCURRENT_CLIENTS,
		"(c) all %d TLS clients connected" % CONCURRENT_CLIENTS, 30.0)
	var open_ms := Time.get_ticks_msec() - started
	var open_count := clients.filter(func(c): return c.get_ready_state() == WebSocketPeer.STATE_OPEN).size()
	check_eq(open_count, CONCURRENT_CLIENTS, "(c) clients OPEN")
	check_eq(events_of(server, "connected").size(), CONCURRENT_CLIENTS, "(c) client_connected emissions")
	if not all_open.call():
		teardown(server, clients)
		return
	for i in CONCURRENT_CLIENTS:
		for m in MESSAGES_PER_CLIENT:
			clients[i].send_text("client %d message %d" % [i, m])
	var received := []
	for i in CONCURRENT_CLIENTS:
		received.append([])
	await wait_until(func():
		for i in CONCURRENT_CLIENTS:
			while clients[i].get_available_packet_count() > 0:
				var packet := clients[i].get_packet()
				received[i].append(packet.get_string_from_utf8() if clients[i].was_string_packet() else "<binary %d bytes>" % packet.size())
		return received.all(func(r): return r.size() >= MESSAGES_PER_CLIENT),
		"(c) every client gets its %d echoes" % MESSAGES_PER_CLIENT, 20.0)
	var wrong := []
	for i in CONCURRENT_CLIENTS:
		var expected := []
		for m in MESSAGES_PER_CLIENT:
			expected.append("client %d message %d" % [i, m])
		if received[i] != expected:
			wrong.append([i, received[i]])
	check_eq(wrong, [], "(c) clients whose echoes differ from what they sent (in order)")
	var echo_ms := Time.get_ticks_msec() - started
	for client in clients:
		client.close(1000, "done")
	await wait_until(func(): return events_of(server, "disconnected").size() >= CONCURRENT_CLIENTS,
		"(c) client_disconnected for every client", 10.0)
	var unclean := events_of(server, "disconnected").filter(func(e): return not e[3])
	check_eq(unclean.size(), 0, "(c) client_disconnected with was_clean_close = false")
	print("(c) %d TLS clients open after %d ms, %d echoes after %d ms, all closed after %d ms" % [
		CONCURRENT_CLIENTS, open_ms, CONCURRENT_CLIENTS * MESSAGES_PER_CLIENT, echo_ms, Time.get_ticks_msec() - started])
	teardown(server, clients)


## (d) A client with TLSOptions.client() (default trust: not the self-signed certificate) fails
## to connect; a trusting client connected before keeps being served, and a new one is accepted.
func test_untrusting_client_is_refused() -> void:
	section("(d) a client that does not trust the certificate")
	var server := wss_server("(d)", key, cert)
	if server == null:
		return
	var good := await open_client(server, wss_url(server), trusting(), "(d) trusting client")
	var untrusting := start_client(wss_url(server), TLSOptions.client(), "(d) untrusting client")
	await check_refused(untrusting, "(d) client with TLSOptions.client() (default trust)")
	check_eq(events_of(server, "connected").size(), 1, "(d) client_connected only for the trusting client")
	check_eq(server.get_peer_ids().size(), 1, "(d) get_peer_ids().size()")
	if good[1] != -1:
		check_eq(good[0].get_ready_state(), WebSocketPeer.STATE_OPEN, "(d) the trusting client is still OPEN")
		await check_echo(good[0], text_bytes("still served"), true, "(d) trusting client after the refusal")
	var late := await open_client(server, wss_url(server), trusting(), "(d) trusting client after the refusal")
	if late[1] != -1:
		await check_echo(late[0], text_bytes("new client served"), true, "(d) new trusting client")
	teardown(server, [good[0], untrusting, late[0]])


## (e) A plain ws:// client against the wss:// server never opens and gets no client_connected;
## the server keeps serving.
func test_plain_ws_client_is_refused() -> void:
	section("(e) a plain ws:// client against the wss:// server")
	var server := wss_server("(e)", key, cert)
	if server == null:
		return
	var good := await open_client(server, wss_url(server), trusting(), "(e) trusting client")
	var plain := start_client("ws://127.0.0.1:%d" % server.get_local_port(), null, "(e) ws:// client")
	await check_refused(plain, "(e) ws:// client against wss://")
	check_eq(events_of(server, "connected").size(), 1, "(e) client_connected only for the wss:// client")
	if good[1] != -1:
		check_eq(good[0].get_ready_state(), WebSocketPeer.STATE_OPEN, "(e) the wss:// client is still OPEN")
		await check_echo(good[0], binary_bytes(1000), false, "(e) wss:// client after the ws:// attempt")
	var late := await open_client(server, wss_url(server), trusting(), "(e) wss:// client after the ws:// attempt")
	if late[1] != -1:
		await check_echo(late[0], text_bytes("new client served"), true, "(e) new wss:// client")
	teardown(server, [good[0], plain, late[0]])


## (f) A raw TCP client that sends nothing (no ClientHello) is dropped after handshake_timeout.
func test_silent_raw_tcp_is_dropped() -> void:
	section("(f) a silent raw TCP client and handshake_timeout = 0.5")
	var server := wss_server("(f)", key, cert, 0.5)
	if server == null:
		return
	check_eq(server.handshake_timeout, 0.5, "(f) handshake_timeout")
	var tcp := await raw_connect(server.get_local_port(), "(f)")
	if tcp == null:
		teardown(server, [])
		return
	var connected_at := Time.get_ticks_msec()
	var good := await open_client(server, wss_url(server), trusting(), "(f) trusting client meanwhile")
	var closed_ms := [-1]
	await wait_until(func():
		if raw_is_closed(tcp):
			closed_ms[0] = Time.get_ticks_msec() - connected_at
			return true
		return false, "(f) the server drops the silent raw TCP client", 4.0)
	var status := tcp.get_status()
	print("(f) silent raw TCP client dropped after %d ms (status %d)" % [closed_ms[0], status])
	check(status == StreamPeerTCP.STATUS_NONE or status == StreamPeerTCP.STATUS_ERROR,
		"(f) raw TCP status is NONE or ERROR after the timeout (got %d)" % status)
	check(closed_ms[0] >= 0 and closed_ms[0] <= 2000, "(f) dropped within 2 s of connecting (took %d ms)" % closed_ms[0])
	check(closed_ms[0] < 0 or closed_ms[0] >= 400, "(f) not dropped before the 0.5 s timeout (took %d ms)" % closed_ms[0])
	check_eq(events_of(server, "connected").size(), 1, "(f) client_connected only for the TLS client")
	if good[1] != -1:
		await wait_seconds(0.6)  # past the handshake timeout: an upgraded client is not subject to it
		check_eq(good[0].get_ready_state(), WebSocketPeer.STATE_OPEN, "(f) the TLS client stays OPEN past handshake_timeout")
		await check_echo(good[0], text_bytes("after the timeout"), true, "(f) TLS client")
	teardown(server, [good[0]])


## (g) listen() errors: each returns its Error, reports it, and the server does not listen.
func test_listen_errors() -> void:
	section("(g) listen() errors")
	catcher.take(Logger.ERROR_TYPE_ERROR)
	var unreadable_cert := X509Certificate.new()  # nothing loaded: its PEM holds no certificate
	var cases := [
		# [what, key, certificate, ca_chain, expected Error, words the push_error must contain]
		["private_key without ssl_certificate", key, null, null, ERR_INVALID_PARAMETER, ["ssl_certificate"]],
		["ssl_certificate without private_key", null, cert, null, ERR_INVALID_PARAMETER, ["private_key"]],
		["private_key of another keypair (mismatch)", other_key, cert, null, ERR_INVALID_PARAMETER, ["match"]],
		["an empty X509Certificate as ssl_certificate (unreadable PEM)", key, unreadable_cert, null, ERR_PARSE_ERROR, ["certificate"]],
		# An unreadable ca_chain must be refused too: served as is, every TLS handshake fails.
		["an empty X509Certificate as ca_chain (unreadable PEM)", key, cert, unreadable_cert, ERR_PARSE_ERROR, ["chain"]],
	]
	for c in cases:
		var server := WebSocketServer.new()
		server.bind_ip = "127.0.0.1"
		server.private_key = c[1]
		server.ssl_certificate = c[2]
		server.ca_chain = c[3]
		var err := server.listen(0)
		check_eq(error_string(err), error_string(c[4]), "(g) listen() with %s" % c[0])
		check(not server.is_listening(), "(g) is_listening() is false after listen() with %s" % c[0])
		check_eq(server.get_local_port(), 0, "(g) get_local_port() after listen() with %s" % c[0])
		var errors := catcher.take(Logger.ERROR_TYPE_ERROR)
		print("(g) %s -> %s; reported: %s" % [c[0], error_string(err), errors])
		if check(errors.size() >= 1, "(g) listen() with %s reports an error (push_error)" % c[0]):
			for word in c[5]:
				check(errors[-1].contains(word), "(g) the error for %s mentions \"%s\": %s" % [c[0], word, errors[-1]])
		server.stop()
	# The certificate is the unreadable part: the message must not blame the (valid) private key.
	var bad_cert_server := WebSocketServer.new()
	bad_cert_server.bind_ip = "127.0.0.1"
	bad_cert_server.private_key = key
	bad_cert_server.ssl_certificate = unreadable_cert
	bad_cert_server.listen(0)
	var reported := catcher.take(Logger.ERROR_TYPE_ERROR)
	check(not reported.is_empty() and not reported[-1].contains("private key cannot be read"),
		"(g) with a valid private_key and an unreadable ssl_certificate, the error must blame the certificate, not the key; got: %s" % [reported])

	# Expired certificate: listen() succeeds, with a warning that says "expired".
	var expired := crypto.generate_self_signed_certificate(key, SUBJECT, "20000101000000", "20010101000000")
	var server := WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	server.private_key = key
	server.ssl_certificate = expired
	catcher.take(Logger.ERROR_TYPE_WARNING)
	check_eq(error_string(server.listen(0)), error_string(OK), "(g) listen() with an expired certificate (2000-2001)")
	check(server.is_listening(), "(g) is_listening() with an expired certificate")
	var warnings := catcher.take(Logger.ERROR_TYPE_WARNING)
	print("(g) expired certificate; warnings: ", warnings)
	check(warnings.size() == 1 and warnings[0].contains("expired"), "(g) one push_warning mentioning \"expired\" (got %s)" % [warnings])
	server.stop()


## (h) private_key / ssl_certificate / ca_chain cannot change while listening (push_error, value
## unchanged); the server keeps serving with its certificate. It listens with a ca_chain too
## (that the chain is sent after the leaf is checked with openssl s_client in
## scripts/run-client-tests.sh).
func test_tls_settings_refused_while_listening() -> void:
	section("(h) TLS settings while listening")
	var server := WebSocketServer.new()
	server.bind_ip = "127.0.0.1"
	server.private_key = key
	server.ssl_certificate = cert
	server.ca_chain = other_cert  # an extra certificate after the leaf: clients ignore it
	if not check_eq(server.listen(0), OK, "(h) listen() with private_key, ssl_certificate and ca_chain"):
		return
	track(server)
	catcher.take(Logger.ERROR_TYPE_ERROR)
	server.private_key = other_key
	check(server.private_key == key, "(h) private_key = another key while listening is refused: server.private_key == key")
	server.private_key = null
	check(server.private_key == key, "(h) private_key = null while listening is refused")
	server.ssl_certificate = other_cert
	check(server.ssl_certificate == cert, "(h) ssl_certificate = another certificate while listening is refused")
	server.ca_chain = null
	check(server.ca_chain == other_cert, "(h) ca_chain = null while listening is refused")
	var errors := catcher.take(Logger.ERROR_TYPE_ERROR)
	check_eq(errors.size(), 4, "(h) one push_error per refused change (got %s)" % [errors])
	check(errors.size() >= 1 and errors[0].contains("private_key") and errors[0].contains("listening"),
		"(h) the error names private_key and listening: %s" % [errors])
	var pair := await open_client(server, wss_url(server), trusting(), "(h) trusting client after the refused changes")
	if pair[1] != -1:
		await check_echo(pair[0], text_bytes("same certificate"), true, "(h) echo after the refused changes")
	teardown(server, [pair[0]])
	# Once stopped, the settings can change again.
	server.private_key = other_key
	check(server.private_key == other_key, "(h) private_key can change after stop()")
	check_eq(catcher.take(Logger.ERROR_TYPE_ERROR), PackedStringArray(), "(h) no error when changing private_key after stop()")


## (i) After stop(), clearing private_key and ssl_certificate and listening again serves ws://.
func test_plain_ws_after_stop() -> void:
	section("(i) plain ws:// after stop()")
	var server := wss_server("(i)", key, cert)
	if server == null:
		return
	var tls_pair := await open_client(server, wss_url(server), trusting(), "(i) wss:// client before stop()")
	if tls_pair[1] != -1:
		await check_echo(tls_pair[0], text_bytes("over wss"), true, "(i) wss:// echo before stop()")
	server.stop()
	await wait_until(func(): return tls_pair[0].get_ready_state() == WebSocketPeer.STATE_CLOSED, "(i) the wss:// client is closed by stop()")
	stop_polling(tls_pair[0])
	server.private_key = null
	server.ssl_certificate = null
	check(server.private_key == null and server.ssl_certificate == null, "(i) private_key and ssl_certificate cleared after stop()")
	if not check_eq(server.listen(0), OK, "(i) listen() again without TLS"):
		teardown(server, [])
		return
	var pair := await open_client(server, "ws://127.0.0.1:%d" % server.get_local_port(), null, "(i) ws:// client after stop()")
	if pair[1] != -1:
		await check_echo(pair[0], text_bytes("over plain ws"), true, "(i) ws:// text echo")
		await check_echo(pair[0], binary_bytes(5000), false, "(i) ws:// binary echo")
	var tls_client := start_client(wss_url(server), trusting(), "(i) wss:// client against the ws:// server")
	await check_refused(tls_client, "(i) wss:// client against the plain ws:// server")
	teardown(server, [pair[0], tls_client])
