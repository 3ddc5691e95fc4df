extends "res://tests/snippets/server.gd"
## The wss:// snippet: it loads res://server.key and res://server.crt when they exist, else makes a
## self-signed pair. Both paths run, each in its own node and server on the snippet's port:
## (1) with no key files, the server listens with the generated pair and a wss:// client trusting
##     the server's certificate (for "localhost") exchanges text with it;
## (2) with a new key and certificate written to those files first, the server's key is the file's
##     (same public key), and a wss:// client trusting only the file's certificate exchanges text.
## Also checks that `ca_chain`, which the snippet names in a comment, is a property of the server.

const KEY_PATH := "res://server.key"
const CERT_PATH := "res://server.crt"


func drive() -> void:
	for path in [KEY_PATH, CERT_PATH]:
		if FileAccess.file_exists(path):
			DirAccess.remove_absolute(ProjectSettings.globalize_path(path))

	# (1) No key files: a generated pair.
	var generated := add_snippet(root, "Generated")
	if generated == null:
		return
	await run_body(generated)
	var server: WebSocketServer = generated.server
	check("ca_chain" in server, "WebSocketServer has the property ca_chain the snippet mentions")
	if check(server.private_key != null and server.ssl_certificate != null, "(1) without key files: private_key and ssl_certificate set"):
		await check_round_trip(server, TLSOptions.client(server.ssl_certificate, "localhost"), "(1) without key files")
	server.stop()

	# (2) Key files present: the snippet must use them.
	var crypto := Crypto.new()
	var key := crypto.generate_rsa(2048)
	var cert := crypto.generate_self_signed_certificate(key, "CN=localhost,O=Snippet check,C=US")
	if not (check_eq(key.save(KEY_PATH), OK, "writing " + KEY_PATH) and check_eq(cert.save(CERT_PATH), OK, "writing " + CERT_PATH)):
		return
	var from_files := add_snippet(root, "FromFiles")
	await run_body(from_files)
	server = from_files.server
	if check(server.private_key != null, "(2) with key files: private_key set"):
		check_eq(server.private_key.save_to_string(true), key.save_to_string(true),
			"(2) with key files: the server's key is the one in " + KEY_PATH)
	await check_round_trip(server, TLSOptions.client(cert, "localhost"), "(2) with key files, a client trusting only " + CERT_PATH)
	server.stop()
