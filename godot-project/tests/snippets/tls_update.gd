extends "res://tests/snippets/snippet_harness.gd"
## The certificate-renewal snippet: members that reload Let's Encrypt's files (privkey.pem,
## cert.pem, chain.pem in `folder`) on a Timer and call update_tls() when cert.pem changed.
## The server listens on wss:// with certificate A; B's files are written to a temporary folder
## that becomes the snippet's `folder`, and the snippet's Timer fires: a client trusting only B
## then connects and one trusting only A is refused. A second tick with unchanged files must change
## nothing (the served objects stay the same).

var dir := ""


func drive() -> void:
	var crypto := Crypto.new()
	var key_a := crypto.generate_rsa(2048)
	var cert_a := crypto.generate_self_signed_certificate(key_a, "CN=localhost,O=A,C=US")
	var key_b := crypto.generate_rsa(2048)
	var cert_b := crypto.generate_self_signed_certificate(key_b, "CN=localhost,O=B,C=US")
	var intermediate := crypto.generate_self_signed_certificate(crypto.generate_rsa(2048), "CN=Chain,O=C,C=US")

	var node := add_snippet(root, "Snippet")
	if node == null:
		return
	var server: WebSocketServer = node.server
	server.bind_ip = "127.0.0.1"
	server.private_key = key_a
	server.ssl_certificate = cert_a
	if not check_eq(server.listen(0), OK, "listen() with certificate A"):
		return
	if not check(await connects(server, cert_a), "before the renewal, a client trusting A connects"):
		return

	dir = ProjectSettings.globalize_path("user://letsencrypt-live/")
	DirAccess.make_dir_recursive_absolute(dir)
	check_eq(key_b.save(dir + "privkey.pem"), OK, "writing privkey.pem")
	check_eq(cert_b.save(dir + "cert.pem"), OK, "writing cert.pem")
	check_eq(intermediate.save(dir + "chain.pem"), OK, "writing chain.pem")
	check("folder" in node, "the snippet has a `folder` variable")
	node.folder = dir

	var timers := node.get_children().filter(func(c): return c is Timer)
	if not check_eq(timers.size(), 1, "the snippet added one Timer"):
		return
	var timer: Timer = timers[0]
	check(not timer.is_stopped(), "the snippet's Timer is running")
	timer.timeout.emit()
	check(server.ssl_certificate != cert_a and server.ca_chain != null, "after the tick, ssl_certificate and ca_chain are the files'")
	check(await connects(server, cert_b), "after the tick, a client trusting only B (the files') connects")
	check(not await connects(server, cert_a), "after the tick, a client trusting only A is refused")

	var served := server.ssl_certificate
	timer.timeout.emit()
	check(server.ssl_certificate == served, "a tick with unchanged files keeps the served certificate")


func teardown() -> void:
	for node in root.get_children():
		if "server" in node and node.server is WebSocketServer:
			node.server.stop()
	if not dir.is_empty():
		for file in ["privkey.pem", "cert.pem", "chain.pem"]:
			DirAccess.remove_absolute(dir + file)
		DirAccess.remove_absolute(dir)


## Whether a WebSocketPeer trusting only `trusted` reaches OPEN (false: refused).
func connects(server: WebSocketServer, trusted: X509Certificate) -> bool:
	var client := WebSocketPeer.new()
	client.connect_to_url("wss://127.0.0.1:%d" % server.get_local_port(), TLSOptions.client(trusted, "localhost"))
	keep_polled(client)
	await wait_until(func(): return client.get_ready_state() in [WebSocketPeer.STATE_OPEN, WebSocketPeer.STATE_CLOSED],
		"the client connects or gives up", 15.0)
	var open := client.get_ready_state() == WebSocketPeer.STATE_OPEN
	client.close()
	stop_polling(client)
	return open
