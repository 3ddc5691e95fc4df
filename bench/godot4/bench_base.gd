extends SceneTree
## The frame loop shared by the Godot 4 benchmark servers (ours_raw.gd, ours_g3.gd,
## ours_g3_untyped.gd, ours_mp.gd, godot_mp.gd, godot_tcp.gd). Each of them extends this script and implements three methods:
##   _start(port: int) -> int   start listening (port 0: any free port); the port, or -1 (-2: the
##                              extension is missing, already reported)
##   _work() -> void            one poll() plus the drain loop: echo every packet to its sender
##                              (mode echo) or look for the "start"/"stop" texts (mode broadcast)
##   _broadcast(msg) -> void    send msg to every connected client
## and keeps `peers` (connected clients) and `send_errors` up to date.
##
## User arguments (after `--`):
##   --port N          0 = any free port (default 0)
##   --mode M          echo (default) | broadcast
##   --rate HZ         broadcast ticks per second; 0 = every frame (default 60)
##   --paced           keep Godot's default frame pacing (default: run flat out)
##   --lifetime S      quit after S seconds (default 900; the runner normally kills it first)
##   --raise-buffers   raise the buffers to the sizes below (default: each server's own defaults)
##   --tls             serve wss://: a self-signed RSA-2048 key and certificate (CN=localhost) are
##                     generated at start with Crypto and kept in tls_key / tls_cert
##   --tls-key FILE --tls-cert FILE   with --tls: load the key and certificate (PEM) instead
##
## Prints "LISTENING <port>" once listening, then once per second
##   STATS frames=<n> work_us=<total> max_frame_work_us=<max> peers=<n> interval_us=<µs> send_errors=<n> broadcasts=<n>
## where every count covers the frames since the previous STATS line and
## work_us is the main-thread time spent in _work() and _broadcast() (Time.get_ticks_usec around
## them). Exit codes: 2 bad arguments, 3 listen failed, 4 the extension is not loaded.

# With --raise-buffers every server gets these, so that 8 messages of 16 KiB in flight per
# connection fit (our servers' defaults already are 1 MiB / 4096; without the flag _start() keeps
# each server's defaults).
const BUFFER_BYTES := 1 << 20        # inbound and outbound buffer per peer (1 MiB)
const BUFFER_PACKETS := 4096         # queued packets per peer and direction
const BROADCAST_BYTES := 64

var echo := true
var raise_buffers := false
var use_tls := false
var _tls_key_path := ""
var _tls_cert_path := ""
var tls_key: CryptoKey
var tls_cert: X509Certificate
var peers := 0
var send_errors := 0

var _rate := 60.0
var _paced := false
var _lifetime_usec := 0
var _running := false
var _broadcasting := false
var _tick_usec := 0
var _next_tick_usec := 0
var _msg := PackedByteArray()
var _start_text := "start".to_utf8_buffer()
var _stop_text := "stop".to_utf8_buffer()

var _frames := 0
var _work_us := 0
var _max_work_us := 0
var _broadcasts := 0
var _last_stats_usec := 0
var _started_usec := 0


func _initialize() -> void:
	var port := 0
	var mode := "echo"
	var lifetime := 900.0
	var args := OS.get_cmdline_user_args()
	var i := 0
	while i < args.size():
		var a := args[i]
		if a == "--paced":
			_paced = true
			i += 1
			continue
		if a == "--raise-buffers":
			raise_buffers = true
			i += 1
			continue
		if a == "--tls":
			use_tls = true
			i += 1
			continue
		if i + 1 >= args.size():
			_fail(2, "missing value after %s" % a)
			return
		var v := args[i + 1]
		match a:
			"--port":
				port = int(v)
			"--mode":
				mode = v
			"--rate":
				_rate = float(v)
			"--lifetime":
				lifetime = float(v)
			"--tls-key":
				_tls_key_path = v
			"--tls-cert":
				_tls_cert_path = v
			_:
				_fail(2, "unknown argument %s (usage: --port N --mode echo|broadcast --rate HZ [--paced] [--lifetime S] [--raise-buffers] [--tls [--tls-key FILE --tls-cert FILE]])" % a)
				return
		i += 2
	if mode != "echo" and mode != "broadcast":
		_fail(2, "--mode must be echo or broadcast, got %s" % mode)
		return
	echo = mode == "echo"
	_tick_usec = 0 if _rate <= 0.0 else int(1000000.0 / _rate)
	_lifetime_usec = int(lifetime * 1000000.0)
	if not _paced:
		# Flat out: without all three Godot sleeps ~6.9 ms per frame even headless.
		Engine.max_fps = 0
		OS.low_processor_usage_mode = false
		OS.low_processor_usage_mode_sleep_usec = 0
	_msg.resize(BROADCAST_BYTES)
	_msg.fill(0)
	if use_tls and _tls_key_path != "":
		tls_key = CryptoKey.new()
		tls_cert = X509Certificate.new()
		if tls_key.load(_tls_key_path) != OK or tls_cert.load(_tls_cert_path) != OK:
			_fail(3, "could not load the TLS key %s and certificate %s" % [_tls_key_path, _tls_cert_path])
			return
	elif use_tls:
		var crypto := Crypto.new()
		tls_key = crypto.generate_rsa(2048)
		tls_cert = crypto.generate_self_signed_certificate(tls_key, "CN=localhost,O=websocket-server bench,C=US", "20240101000000", "20440101000000")
		if tls_key == null or tls_cert == null:
			_fail(3, "could not generate the TLS key and certificate")
			return
	var bound := _start(port)
	if bound == -2:
		return  # _require_extension() already failed loudly
	if bound < 0:
		_fail(3, "listen on port %d failed" % port)
		return
	_started_usec = Time.get_ticks_usec()
	_last_stats_usec = _started_usec
	_running = true
	print("LISTENING %d" % bound)
	print("INFO engine=%s paced=%s mode=%s rate=%s buffers=%s tls=%s" % [Engine.get_version_info()["string"], _paced, mode, _rate, ("%d/%d" % [BUFFER_BYTES, BUFFER_PACKETS]) if raise_buffers else "default", use_tls])


func _process(_delta: float) -> bool:
	if not _running:
		return false
	var t0 := Time.get_ticks_usec()
	_work()
	if _broadcasting and t0 >= _next_tick_usec:
		_msg.encode_s64(0, int(Time.get_unix_time_from_system() * 1000000.0))
		_broadcast(_msg)
		_broadcasts += 1
		_next_tick_usec += _tick_usec
		if _next_tick_usec <= t0:
			_next_tick_usec = t0 + _tick_usec  # behind: no catch-up bursts
	var t1 := Time.get_ticks_usec()
	var w := t1 - t0
	_frames += 1
	_work_us += w
	if w > _max_work_us:
		_max_work_us = w
	if t1 - _last_stats_usec >= 1000000:
		print("STATS frames=%d work_us=%d max_frame_work_us=%d peers=%d interval_us=%d send_errors=%d broadcasts=%d" % [_frames, _work_us, _max_work_us, peers, t1 - _last_stats_usec, send_errors, _broadcasts])
		_frames = 0
		_work_us = 0
		_max_work_us = 0
		_broadcasts = 0
		send_errors = 0
		_last_stats_usec = t1
		if t1 - _started_usec > _lifetime_usec:
			print("QUIT lifetime over")
			_running = false
			quit(0)
	return false


## Called by _work() for each packet in broadcast mode.
func _control(p: PackedByteArray) -> void:
	if p == _start_text:
		_broadcasting = true
		_next_tick_usec = Time.get_ticks_usec()
	elif p == _stop_text:
		_broadcasting = false


## For the scripts of our server: false (after quitting with exit code 4) when the extension is
## not loaded; _start() then returns -2.
func _require_extension() -> bool:
	if not ClassDB.class_exists("WebSocketServer"):
		_fail(4, "class WebSocketServer does not exist: the extension was not loaded (build it with scripts/build.sh --release; see bench/godot4/websocket_server_release.gdextension)")
		return false
	return true


func _fail(code: int, why: String) -> void:
	printerr("FATAL: %s" % why)
	print("FATAL: %s" % why)
	_running = false
	quit(code)


# Overridden by each server.
func _start(_port: int) -> int:
	return -1


func _work() -> void:
	pass


func _broadcast(_m: PackedByteArray) -> void:
	pass
