extends "res://tests/lib/test_base.gd"
## trusted_proxies in both classes, with Godot's own clients sending X-Forwarded-For /
## Forwarded headers (handshake_headers): believed only from a trusted address; a bad entry is
## refused and the old list kept.

const ErrorLog = preload("res://tests/lib/error_log.gd")


func run_tests() -> void:
	await validation()
	for mode in ["raw", "multiplayer"]:
		check_eq(await address_seen(mode, ["127.0.0.1"], ["X-Forwarded-For: 1.2.3.4, 127.0.0.1"]), "1.2.3.4",
			"%s: a chain through a trusted proxy gives the client" % mode)
		check_eq(await address_seen(mode, ["::1", "127.0.0.0/8"], ["Forwarded: for=\"[2001:db8::5]:4711\";proto=https"]), "2001:db8::5",
			"%s: Forwarded with a bracketed IPv6 address" % mode)
		check_eq(await address_seen(mode, ["10.0.0.0/8"], ["X-Forwarded-For: 1.2.3.4"]), "127.0.0.1",
			"%s: an untrusted client cannot spoof its address" % mode)
		check_eq(await address_seen(mode, ["127.0.0.1"], ["X-Forwarded-For: garbage"]), "127.0.0.1",
			"%s: a garbage header falls back to the TCP address" % mode)
		check_eq(await address_seen(mode, [], ["X-Forwarded-For: 1.2.3.4"]), "127.0.0.1",
			"%s: no trusted proxies, headers ignored" % mode)


func validation() -> void:
	var error_log := ErrorLog.new()
	OS.add_logger(error_log)
	for server in [WebSocketServer.new(), WebSocketMultiplayerServer.new()]:
		var good := PackedStringArray(["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"])
		check_eq(server.trusted_proxies, PackedStringArray(), "empty by default")
		server.trusted_proxies = good
		check_eq(server.trusted_proxies, good, "a valid list is kept")
		check_eq(error_log.take(Logger.ERROR_TYPE_ERROR).size(), 0, "no error for a valid list")
		server.trusted_proxies = PackedStringArray(["192.168.0.0/16", "proxy.local"])
		check_eq(server.trusted_proxies, good, "a list with a bad entry is refused whole")
		server.trusted_proxies = PackedStringArray(["10.0.0.0/33"])
		check_eq(server.trusted_proxies, good, "a bad prefix length is refused")
		var logged := error_log.take(Logger.ERROR_TYPE_ERROR)
		check(logged.size() == 2 and "proxy.local" in logged[0] and "10.0.0.0/33" in logged[1], "each refusal names the entry: %s" % [logged])
	OS.remove_logger(error_log)


## Connects a stock client sending `headers` to a server trusting `trusted`, with admission
## control on; returns the address the server reports, after checking that the request's address,
## get_peer_address() and the peer's get_connected_host() agree.
func address_seen(mode: String, trusted: Array, headers: Array) -> String:
	var raw := mode == "raw"
	var server = WebSocketServer.new() if raw else WebSocketMultiplayerServer.new()
	server.bind_ip = "127.0.0.1"
	server.trusted_proxies = PackedStringArray(trusted)
	server.admission_control = true
	var requested := []
	server.client_handshake.connect(func(id, request):
		requested.append(request.get("address"))
		server.accept_peer(id))
	check_eq(server.listen(0), OK, "%s listen" % mode)
	keep_polled(server)
	var url := "ws://127.0.0.1:%d/" % server.get_local_port()
	var client
	if raw:
		client = WebSocketPeer.new()
		client.handshake_headers = PackedStringArray(headers)
		client.connect_to_url(url)
	else:
		client = WebSocketMultiplayerPeer.new()
		client.handshake_headers = PackedStringArray(headers)
		client.create_client(url)
	keep_polled(client)
	var address := ""
	if await wait_until(func(): return server.get_peer_ids().size() == 1, "%s client connected (%s)" % [mode, headers]):
		var id: int = server.get_peer_ids()[0]
		address = server.get_peer_address(id)
		check_eq(server.get_peer(id).get_connected_host(), address, "%s: get_connected_host() agrees" % mode)
		check_eq(requested, [address], "%s: request.address agrees" % mode)
	server.stop()
	stop_polling(server)
	stop_polling(client)
	disconnect_all(server)
	return address
