#!/usr/bin/env python3
"""Runs one GDScript test of godot-project/ in a headless Godot 4, on Linux, Windows or macOS.

    scripts/run-one-godot-test.py GODOT_BIN TEST

GODOT_BIN: the Godot executable (on Windows the *_console.exe, so the output reaches the log; on
macOS Godot.app or Godot.app/Contents/MacOS/Godot). TEST: tests/test_x.gd, res://tests/test_x.gd,
godot-project/tests/test_x.gd or test_x.

The same rules as scripts/run-godot-tests.sh (the Linux runner of the whole suite): the test passes
only with exit code 0, a line starting with "PASS", no "SCRIPT ERROR", no gdext panic, no objects
leaked at exit, no gdext "shadows a method of a base class" warning, and within TEST_TIMEOUT seconds (default 120). Like that script it needs no import
step: Godot loads the extensions named in godot-project/.godot/extension_list.cfg at startup (the
file is committed; it is written here if missing). The output goes to the console and to
target/godot-test-logs/NAME.log. Exit code 0 when the test passed, 1 otherwise.
"""
import os
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = os.path.join(REPO, "godot-project")
GDEXTENSION = "res://addons/websocket_server/websocket_server.gdextension"


def fail_early(message):
    print("run-one-godot-test: error: " + message, file=sys.stderr)
    sys.exit(1)


def godot_executable(path):
    if path.endswith(".app") and os.path.isdir(path):
        name = os.path.splitext(os.path.basename(path))[0]
        for candidate in (name, "Godot"):
            exe = os.path.join(path, "Contents", "MacOS", candidate)
            if os.path.isfile(exe):
                return exe
    return path


def test_name(arg):
    name = arg.replace("\\", "/").split("/")[-1]
    return name[:-3] if name.endswith(".gd") else name


def this_platform_library():
    """The path of the library the .gdextension names for this OS's debug entry, or None."""
    if sys.platform.startswith("linux"):
        machine = os.uname().machine
        key = "linux.debug." + ("arm64" if machine in ("aarch64", "arm64") else machine)
    elif sys.platform == "win32":
        key = "windows.debug.x86_64"
    elif sys.platform == "darwin":
        key = "macos.debug"
    else:
        return None
    path = os.path.join(PROJECT, "addons", "websocket_server", "websocket_server.gdextension")
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r'\s*([\w.]+)\s*=\s*"([^"]*)"', line)
            if m and m.group(1) == key:
                return os.path.join(os.path.dirname(path), m.group(2))
    return None


def main():
    # Godot's output is UTF-8; a Windows console or pipe may use another code page.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8", errors="replace")
    if len(sys.argv) != 3:
        fail_early("usage: run-one-godot-test.py GODOT_BIN TEST")
    godot = godot_executable(sys.argv[1])
    if not os.path.isfile(godot):
        fail_early("%s: no such executable" % godot)
    name = test_name(sys.argv[2])
    script = os.path.join(PROJECT, "tests", name + ".gd")
    if not os.path.isfile(script):
        fail_early("%s: no such test" % script)

    # The addon folder inside the project is a git symlink to ../../addons/websocket_server; a
    # checkout without symlink support (Windows' default) leaves a small text file instead.
    gdextension = os.path.join(PROJECT, "addons", "websocket_server", "websocket_server.gdextension")
    if not os.path.isfile(gdextension):
        fail_early("%s is missing: godot-project/addons/websocket_server must be the addon folder "
                   "(a symlink, or a copy of addons/websocket_server where symlinks are not checked "
                   "out)" % gdextension)
    extension_list = os.path.join(PROJECT, ".godot", "extension_list.cfg")
    if not os.path.isfile(extension_list):
        os.makedirs(os.path.dirname(extension_list), exist_ok=True)
        with open(extension_list, "w", encoding="utf-8", newline="\n") as f:
            f.write(GDEXTENSION + "\n")
        print("run-one-godot-test: wrote %s" % extension_list)
    library = this_platform_library()
    if library is None:
        print("run-one-godot-test: note: the .gdextension names no debug library for this platform")
    elif not os.path.isfile(library):
        print("run-one-godot-test: note: %s does not exist (build it first)" % os.path.normpath(library))

    timeout_s = int(os.environ.get("TEST_TIMEOUT", "120"))
    logs = os.path.join(REPO, "target", "godot-test-logs")
    os.makedirs(logs, exist_ok=True)
    log_path = os.path.join(logs, name + ".log")
    cmd = [godot, "--headless", "--path", PROJECT, "--script", "res://tests/%s.gd" % name]
    print("run-one-godot-test: " + " ".join(cmd), flush=True)

    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        out, _ = proc.communicate()
    secs = time.monotonic() - start
    text = out.decode("utf-8", errors="replace").replace("\r\n", "\n")
    with open(log_path, "w", encoding="utf-8") as f:
        f.write(text)
    print(text, end="" if text.endswith("\n") else "\n")

    lines = text.split("\n")
    why = []
    if timed_out:
        why.append("timed out after %ds" % timeout_s)
    elif proc.returncode != 0:
        why.append("exit code %d" % proc.returncode)
    elif not any(line.startswith("PASS") for line in lines):
        why.append("no PASS line")
    if "SCRIPT ERROR" in text:
        why.append("SCRIPT ERROR in output")
    if "ERROR: [panic" in text:
        why.append("Rust panic in output")
    if "ObjectDB instances leaked at exit" in text:
        why.append("objects leaked at exit")
    if re.search(r"shadows a (method|property|constant) of a base class", text):
        why.append("gdext: a class member shadows a base class's")
    if not why:
        passed = next(line for line in lines if line.startswith("PASS"))
        print("ok    %s (%.1fs) %s" % (name, secs, passed))
        print("godot: 1 passed, 0 failed")
        return 0
    print("FAIL  %s (%.1fs): %s -- log: %s" % (name, secs, "; ".join(why), log_path))
    for line in [l for l in lines if re.search(r"FAIL|ERROR|SCRIPT ERROR|panic", l)][:20]:
        print("      " + line)
    print("godot: 0 passed, 1 failed")
    return 1


if __name__ == "__main__":
    sys.exit(main())
