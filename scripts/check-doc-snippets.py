#!/usr/bin/env python3
r"""Runs every GDScript snippet of the documentation in a headless Godot 4, so that none can rot.

    scripts/check-doc-snippets.py [-k TEXT] [FILE.md ...]

Without FILE arguments it reads every Markdown file of the repository (git ls-files '*.md').
-k TEXT runs only the snippets whose "FILE:LINE" contains TEXT. Needs the extension built
(scripts/build.sh) and Godot 4.5 or newer (scripts/get-godot.sh; the harness reads the output
through a Logger). Prints "ok" or "FAIL" per snippet with FILE:LINE and a summary; the exit code is
1 when any snippet failed or was not marked.

THE CONVENTION. Every ```gdscript (or ```gd) block is preceded by a marker, an HTML comment on the
line right before its opening fence (GitHub does not render it), for example

    <!-- snippet: body -->
    <!-- snippet: script harness=echo_script expect="^client \d+ connected" -->

in general <!-- snippet: KIND [harness=NAME] [expect="RE"]... [allow-error="RE"]... [reason="..."] -->.
A block without a marker fails, so no snippet can be added untested. KIND says how it runs:

  script      A whole script (`extends Node` ...), written as it is to res://snippet.gd.
              Default harness: node.
  members     The inside of a class (variables and functions) without an `extends` line; written
              after `extends "<the harness's context>"`, which supplies what the block leaves out
              (a handler it connects, the polling). Default harness: node.
  body        Statements; written as the body of `func snippet_body()` (which may await) in a
              script that extends the harness's context. Default harness: server, whose context
              provides `server`, a new WebSocketServer polled every frame.
  parse-only  Compiled, never run. Only for a block that cannot run in one process; reason="..."
              (required) says why. Written as a `script` block.

harness=NAME is the driver godot-project/tests/snippets/NAME.gd, which runs the snippet and checks
that what it shows happens: a client connects, a message comes back, an RPC arrives. Its context,
if it needs one, is NAME_context.gd there (members and body blocks extend it, else Node). Drivers:
  node          (script, members) the node is added under the root and runs for 30 frames.
  server        (body) if the snippet left `server` listening, a Godot WebSocketPeer connects
                (wss:// when a key is set, trusting the server's certificate for "localhost"),
                a text goes server -> client, and the client's text fires data_received (read by
                the snippet's own handler when it connected one, else checked by the driver).
  echo_script   (script) a server script: a client connects to the first port the block names,
                its text must come back inside a text reply, then a clean close.
  wss           (body) the wss:// example, run without and with res://server.key/.crt present.
  mp_server     (body) the multiplayer server half: a stock WebSocketMultiplayerPeer joins from
                another branch of the tree (its own SceneMultiplayer) and an RPC goes both ways.
  mp_client     (body) the client half, against a WebSocketMultiplayerServer on the block's port.
  shared_host   (members) the shared-scripts example, with the addon and in a project without it.
  parse         (parse-only) compiles the block.
expect="RE" (repeatable): some line the run prints must match RE (Godot's RegEx, searched, waited
for up to 5 s after the driver's checks), e.g. the prints of the snippet's signal handlers.
allow-error="RE" (repeatable): stderr messages (errors, warnings, printerr) whose first line
matches RE (Python's re, searched) are allowed; any other fails the snippet, because a snippet in
the docs must run clean. Values are in double quotes and contain none.

Each snippet runs in a fresh project, target/doc-snippets/<file>-<line>/, that links the addon and
godot-project/tests/ (the drivers and tests/lib/test_base.gd); the driver is the main script, run
with `godot --headless --script`; the log is in target/doc-snippets/logs/. It passes with the
rules of scripts/run-godot-tests.sh (exit code 0, a PASS line, no SCRIPT ERROR, no gdext panic, no
objects leaked at exit, no gdext "shadows" warning, within SNIPPET_TIMEOUT seconds, default 60)
and only if nothing reached stderr but what allow-error allows. Blocks keep their literal ports
(listen(9080)): those a block names (listen(N), ws://host:N) must be free before it runs, which is
checked; snippets run one at a time. Errors in res://snippet.gd are reported at the Markdown
file's line.

To add a snippet: put the marker right before its fence and run this script. A new kind of
example may need a new driver: copy the nearest one (they extend snippet_harness.gd).
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARNESS_DIR = os.path.join(REPO, "godot-project", "tests", "snippets")
WORK = os.path.join(REPO, "target", "doc-snippets")
GDEXTENSION = "res://addons/websocket_server/websocket_server.gdextension"
KINDS = {"script": "node", "members": "node", "body": "server", "parse-only": "parse"}
ATTRS = {"harness", "expect", "allow-error", "reason"}
TIMEOUT_S = int(os.environ.get("SNIPPET_TIMEOUT", "60"))

FENCE_RE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
MARKER_RE = re.compile(r"^<!--\s*snippet:\s*(.*?)\s*-->$", re.S)
ATTR_RE = re.compile(r'\s*([a-z][a-z-]*)=(?:"([^"]*)"|([^\s"]+))')
PORT_RES = [re.compile(r"\blisten\(\s*(\d+)"), re.compile(r"\bwss?://[^\s/\"':]+:(\d+)")]


class Snippet:
    def __init__(self, path, line, code, marker_text):
        self.path = path          # relative to the repository
        self.line = line          # the opening fence's line, 1-based
        self.code = code          # the block's lines, without the fence's indentation
        self.marker_text = marker_text
        self.kind = None
        self.harness = None
        self.expect = []
        self.allow_error = []
        self.reason = None
        self.problem = None       # why the block cannot be run at all

    @property
    def where(self):
        return "%s:%d" % (self.path, self.line)


def markdown_files():
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout
        return sorted(set(out.split()))
    except (OSError, subprocess.CalledProcessError):
        docs = [os.path.join("docs", f) for f in sorted(os.listdir(os.path.join(REPO, "docs"))) if f.endswith(".md")]
        return ["README.md", "addons/websocket_server/README.md"] + docs


def extract(path):
    """The GDScript blocks of one Markdown file, and the lines of markers that precede none."""
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        lines = f.read().split("\n")
    snippets, markers, used = [], [], set()
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            if lines[i].strip().startswith("<!-- snippet:"):
                markers.append(i + 1)
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        end = i + 1
        while end < len(lines) and not re.match(r"^\s*" + re.escape(fence[0]) + "{%d,}\\s*$" % len(fence), lines[end]):
            end += 1
        if lang in ("gdscript", "gd"):
            body = [l[len(indent):] if l.startswith(indent) else l.lstrip() for l in lines[i + 1:end]]
            marker, marker_line = marker_before(lines, i)
            used.add(marker_line)
            snippets.append(Snippet(path, i + 1, body, marker))
        i = end + 1
    return snippets, [n for n in markers if n not in used]


def marker_before(lines, fence_index):
    """The marker ending on the line right before the fence (blank lines allowed) and its first
    line, or (None, None)."""
    j = fence_index - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0 or not lines[j].strip().endswith("-->"):
        return None, None
    start = j
    while start >= 0 and "<!--" not in lines[start]:
        start -= 1
    if start < 0:
        return None, None
    text = "\n".join(l.strip() for l in lines[start:j + 1])
    return (text, start + 1) if text.startswith("<!-- snippet:") else (None, None)


def parse_marker(s):
    if s.marker_text is None:
        s.problem = ("no marker: put <!-- snippet: script|members|body|parse-only ... --> on the line "
                     "before the block (see the top of scripts/check-doc-snippets.py)")
        return
    m = MARKER_RE.match(s.marker_text)
    rest = m.group(1) if m else ""
    kind, _, rest = rest.partition(" ")
    if kind not in KINDS:
        s.problem = "marker: unknown kind %r (script, members, body or parse-only)" % kind
        return
    s.kind = kind
    pos = 0
    while pos < len(rest):
        am = ATTR_RE.match(rest, pos)
        if not am:
            if rest[pos:].strip():
                s.problem = "marker: cannot read %r (attributes are name=value or name=\"value\")" % rest[pos:].strip()
                return
            break
        name, value = am.group(1), am.group(2) if am.group(2) is not None else am.group(3)
        pos = am.end()
        if name not in ATTRS:
            s.problem = "marker: unknown attribute %r (%s)" % (name, ", ".join(sorted(ATTRS)))
            return
        if name == "expect":
            s.expect.append(value)
        elif name == "allow-error":
            try:
                re.compile(value)
            except re.error as e:
                s.problem = "marker: allow-error=%r is not a regular expression: %s" % (value, e)
                return
            s.allow_error.append(value)
        elif name == "harness":
            s.harness = value
        elif name == "reason":
            s.reason = value
    if kind == "parse-only" and not (s.reason or "").strip():
        s.problem = "marker: parse-only needs reason=\"why this block cannot run in one process\""
        return
    if kind != "parse-only" and s.reason is not None:
        s.problem = "marker: reason= is only for parse-only blocks"
        return
    s.harness = s.harness or KINDS[kind]
    if not re.fullmatch(r"[a-z0-9_]+", s.harness) or not os.path.isfile(os.path.join(HARNESS_DIR, s.harness + ".gd")):
        s.problem = "marker: no harness %r (no godot-project/tests/snippets/%s.gd)" % (s.harness, s.harness)
        return
    if kind in ("members", "body") and any(re.match(r"extends\b", l) for l in s.code):
        s.problem = "a %s block has no `extends` line: mark a whole script `script`" % kind


def generate(s):
    """The text of res://snippet.gd and the number of lines put before the block's first line."""
    if s.kind in ("script", "parse-only"):
        return "\n".join(s.code) + "\n", 0
    context = os.path.join(HARNESS_DIR, s.harness + "_context.gd")
    base = '"res://tests/snippets/%s_context.gd"' % s.harness if os.path.isfile(context) else "Node"
    header = ["extends %s" % base]
    if s.kind == "members":
        return "\n".join(header + s.code) + "\n", len(header)
    # A body: one indentation level more, in the block's own indentation character.
    unit = "    " if any(l.startswith(" ") for l in s.code) and not any(l.startswith("\t") for l in s.code) else "\t"
    header.append("func snippet_body() -> void:")
    body = [unit + l if l.strip() else "" for l in s.code] + [unit + "pass"]
    return "\n".join(header + body) + "\n", len(header)


def ports_of(s):
    found = []
    for line in s.code:
        code = line.split("#", 1)[0]
        for pattern in PORT_RES:
            for m in pattern.finditer(code):
                port = int(m.group(1))
                if 0 < port < 65536 and port not in found:
                    found.append(port)
    return found


def port_in_use(port):
    """Whether something listens on `port` (IPv4 or IPv6). TIME_WAIT leftovers do not count."""
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            continue
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((address, port))
            except OSError:
                return True
    return False


def make_project(s, name):
    project = os.path.join(WORK, name)
    shutil.rmtree(project, ignore_errors=True)
    os.makedirs(os.path.join(project, ".godot"))
    os.makedirs(os.path.join(project, "addons"))
    with open(os.path.join(project, "project.godot"), "w", encoding="utf-8") as f:
        f.write('config_version=5\n\n[application]\n\nconfig/name="doc snippet %s"\n' % name)
    # Godot loads the extensions listed here at startup: no import step is needed.
    with open(os.path.join(project, ".godot", "extension_list.cfg"), "w", encoding="utf-8") as f:
        f.write(GDEXTENSION + "\n")
    for link, target in (("addons/websocket_server", os.path.join(REPO, "addons", "websocket_server")),
                         ("tests", os.path.join(REPO, "godot-project", "tests"))):
        try:
            os.symlink(target, os.path.join(project, link), target_is_directory=True)
        except OSError:
            shutil.copytree(target, os.path.join(project, link))
    text, offset = generate(s)
    with open(os.path.join(project, "snippet.gd"), "w", encoding="utf-8") as f:
        f.write(text)
    info = {"file": s.path, "line": s.line, "kind": s.kind, "harness": s.harness,
            "ports": ports_of(s), "expect": s.expect}
    with open(os.path.join(project, "snippet.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    return project, offset


def run_godot(godot, project, harness, log_path):
    """Runs the driver; returns (exit code or None on timeout, merged lines, stderr lines)."""
    args = [godot, "--headless", "--path", project, "--script", "res://tests/snippets/%s.gd" % harness]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    merged, errors, lock = [], [], threading.Lock()

    def pump(stream, is_err):
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with lock:
                merged.append(line)
                if is_err:
                    errors.append(line)

    threads = [threading.Thread(target=pump, args=(proc.stdout, False)),
               threading.Thread(target=pump, args=(proc.stderr, True))]
    for t in threads:
        t.start()
    try:
        rc = proc.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
        rc = None
    for t in threads:
        t.join()
    with open(log_path, "w", encoding="utf-8") as f:
        f.write("\n".join(merged) + "\n")
    return rc, merged, errors


def stderr_messages(lines):
    """stderr grouped into messages: a line that does not start with whitespace begins one."""
    messages = []
    for line in lines:
        if messages and (line[:1].isspace() or not line):
            messages[-1].append(line)
        else:
            messages.append([line])
    return messages


def judge(s, rc, merged, errors):
    why = []
    text = "\n".join(merged)
    if rc is None:
        why.append("timed out after %ds" % TIMEOUT_S)
    elif rc != 0:
        why.append("exit code %d" % rc)
    elif not re.search(r"^PASS", text, re.M):
        why.append("no PASS line")
    if "SCRIPT ERROR" in text:
        why.append("SCRIPT ERROR in output")
    if "ERROR: [panic" in text:
        why.append("Rust panic in output")
    if "ObjectDB instances leaked at exit" in text:
        why.append("objects leaked at exit")
    if re.search(r"shadows a (method|property|constant) of a base class", text):
        why.append("gdext: a class member shadows a base class's")
    # The harness's own verdict line is not the snippet's output (its FAIL lines go to stdout).
    unexpected = [m for m in stderr_messages(errors)
                  if not re.fullmatch(r"\d+ of \d+ checks failed", m[0])
                  and not any(re.search(p, m[0]) for p in s.allow_error)]
    if unexpected:
        why.append("%d unexpected message(s) on stderr (errors, warnings or printerr; allow-error= allows one)"
                   % len(unexpected))
    return why, unexpected


def to_markdown_lines(line, s, offset):
    """Rewrites res://snippet.gd:N in Godot's messages as the Markdown file's line."""
    first = s.line + 1 - offset
    return re.sub(r"res://snippet\.gd:(\d+)", lambda m: "%s:%d" % (s.path, first + int(m.group(1)) - 1), line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="Markdown files (default: every *.md of the repository)")
    parser.add_argument("-k", dest="filter", default="", help="run only snippets whose FILE:LINE contains this")
    args = parser.parse_args()
    files = [os.path.relpath(os.path.abspath(f), REPO) for f in args.files] or markdown_files()

    snippets, problems = [], []
    for path in files:
        found, stray = extract(path)
        snippets += found
        problems += ["%s:%d: a snippet marker that is not right before a ```gdscript block" % (path, n) for n in stray]
    for s in snippets:
        parse_marker(s)
    snippets = [s for s in snippets if args.filter in s.where]

    godot = None
    if any(s.problem is None for s in snippets):
        bin_dir = os.path.join(REPO, "addons", "websocket_server", "bin")
        if sys.platform.startswith("linux") and not any(
                f.startswith("libwebsocket_server.linux.debug.") for f in os.listdir(bin_dir)):
            print("check-doc-snippets: the extension is not built (no %s/libwebsocket_server.linux.debug.*): "
                  "run scripts/build.sh first" % os.path.relpath(bin_dir, REPO))
            return 1
        try:
            godot = subprocess.run([os.path.join(REPO, "scripts", "get-godot.sh")], capture_output=True,
                                   text=True, check=True).stdout.strip()
        except subprocess.CalledProcessError as e:
            sys.stderr.write(e.stderr)
            print("check-doc-snippets: no Godot 4 (scripts/get-godot.sh failed)")
            return 1
    os.makedirs(os.path.join(WORK, "logs"), exist_ok=True)

    passed, failed = 0, []
    started = time.monotonic()
    for problem in problems:
        print("FAIL  " + problem)
        failed.append(problem.split(":")[0])
    for s in snippets:
        label = "%s (%s, harness %s)" % (s.where, s.kind, s.harness)
        if s.problem:
            print("FAIL  %s: %s" % (s.where, s.problem))
            failed.append(s.where)
            continue
        busy = [p for p in ports_of(s) if port_in_use(p)]
        if busy:
            print("FAIL  %s: port %s in use: the block names it, so it must be free (stop what listens there)"
                  % (label, ", ".join(map(str, busy))))
            failed.append(s.where)
            continue
        name = re.sub(r"[^\w.-]+", "_", s.path) + "-%d" % s.line
        project, offset = make_project(s, name)
        log_path = os.path.join(WORK, "logs", name + ".log")
        t0 = time.monotonic()
        rc, merged, errors = run_godot(godot, project, s.harness, log_path)
        secs = time.monotonic() - t0
        why, unexpected = judge(s, rc, merged, errors)
        if not why:
            passed += 1
            pass_line = next((l for l in merged if l.startswith("PASS")), "")
            print("ok    %s %.1fs %s" % (label, secs, pass_line))
            # An allowance nothing needs any more would hide a later error of the same text.
            for pattern in s.allow_error:
                if not any(re.search(pattern, m[0]) for m in stderr_messages(errors)):
                    print("      note: allow-error=\"%s\" matched nothing: remove it from the marker" % pattern)
            continue
        failed.append(s.where)
        print("FAIL  %s %.1fs: %s -- log: %s" % (label, secs, "; ".join(why), os.path.relpath(log_path, REPO)))
        shown = [l for l in merged if l.startswith("FAIL")]
        for message in unexpected:
            shown += message[:4]
        for line in shown[:30]:
            print("      " + to_markdown_lines(line, s, offset))
    total = time.monotonic() - started
    print("doc snippets: %d passed, %d failed (%.0fs)" % (passed, len(failed), total))
    return 0 if not failed and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
