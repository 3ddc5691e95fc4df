#!/usr/bin/env python3
"""Writes the licence notices of every crate linked into the extension library.

    scripts/third_party_notices.py OUTPUT

"Linked" means: reached from websocket-server-godot through normal (not build or dev)
dependencies, on any platform the release ships (the zip holds them all), minus proc-macro
crates, which run inside the compiler and leave no code in the library. Each crate's licence
text comes from the files it publishes (LICENSE*, COPYING*, NOTICE*). For a choice of licences
("MIT OR Apache-2.0") the first of PREFERRED that is offered is used; for a conjunction ("Apache-2.0
AND ISC") every published licence file is included. A crate that publishes no licence file
(godot-rust's crates, MPL-2.0) gets the licence's standard text from the system's common-licenses.
Fails when a crate's licence cannot be given in full, so the notices are never silently short.
"""

import json
import os
import re
import subprocess
import sys

CRATE = "websocket-server-godot"
OUR_CRATES = {"websocket-server-godot", "websocket-server-core"}
# Every target triple the release workflow builds (.github/workflows/release.yml).
TARGETS = [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-pc-windows-msvc",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "aarch64-linux-android",
    "x86_64-linux-android",
]
PREFERRED = ["MIT", "ISC", "BSD-3-Clause", "BSD-2-Clause", "Apache-2.0", "MPL-2.0"]
# Standard texts for crates that publish none (Debian and Ubuntu ship these).
COMMON_LICENSES = {"MPL-2.0": "/usr/share/common-licenses/MPL-2.0",
                   "Apache-2.0": "/usr/share/common-licenses/Apache-2.0"}
LICENCE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE)", re.IGNORECASE)


def metadata(target):
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", target],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def linked_packages():
    """Package id -> package, for every crate linked into the library on some shipped target."""
    linked = {}
    for target in TARGETS:
        meta = metadata(target)
        packages = {p["id"]: p for p in meta["packages"]}
        nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
        root = next(p["id"] for p in meta["packages"] if p["name"] == CRATE)
        stack, seen = [root], set()
        while stack:
            pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            for dep in nodes[pid]["deps"]:
                if not any(k["kind"] is None for k in dep["dep_kinds"]):
                    continue  # build or dev dependency only
                package = packages[dep["pkg"]]
                if any("proc-macro" in t["kind"] for t in package["targets"]):
                    continue
                stack.append(dep["pkg"])
        for pid in seen:
            linked[pid] = packages[pid]
    return linked


def licence_files(package):
    folder = os.path.dirname(package["manifest_path"])
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if LICENCE_FILE.match(f))


def file_for(files, licence):
    """The published file that holds `licence`, judged by its name (LICENSE-MIT, LICENSE-APACHE)."""
    key = {"Apache-2.0": "APACHE", "BSD-2-Clause": "BSD", "BSD-3-Clause": "BSD"}.get(licence, licence)
    return next((f for f in files if key.upper() in os.path.basename(f).upper()), None)


def texts(package):
    """(licence chosen, [(title, text)]) for one crate; raises when it cannot be given in full."""
    expression = package["license"] or ""
    files = licence_files(package)
    name = f'{package["name"]} {package["version"]}'
    if " OR " in expression and " AND " not in expression:
        offered = [s.strip("() ") for s in expression.split(" OR ")]
        for licence in [p for p in PREFERRED if p in offered]:
            path = file_for(files, licence) or (files[0] if len(files) == 1 else None)
            if path:
                return licence, [(os.path.basename(path), read(path))]
            if licence in COMMON_LICENSES and not files:
                return licence, [(licence, read(COMMON_LICENSES[licence]))]
        raise SystemExit(f"third_party_notices: no licence text for {name} ({expression}): {files}")
    if files:
        return expression, [(os.path.basename(p), read(p)) for p in files]
    if expression in COMMON_LICENSES:
        return expression, [(expression, read(COMMON_LICENSES[expression]))]
    raise SystemExit(f"third_party_notices: {name} ({expression}) publishes no licence file")


def read(path):
    if not os.path.exists(path):
        raise SystemExit(f"third_party_notices: {path} is missing")
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().strip() + "\n"


def rust_std_section():
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], check=True, capture_output=True,
                             text=True).stdout.strip()
    apache = os.path.join(sysroot, "share", "doc", "rust", "licenses", "Apache-2.0.txt")
    path = apache if os.path.exists(apache) else COMMON_LICENSES["Apache-2.0"]
    return ("Rust standard library (MIT OR Apache-2.0; Copyright The Rust Project Developers),"
            " used under Apache-2.0:", read(path))


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    crates = sorted((p for p in linked_packages().values() if p["name"] not in OUR_CRATES),
                    key=lambda p: (p["name"], p["version"]))
    rule = "=" * 78
    parts = [
        "Third-party software in the websocket_server library",
        "",
        "The library (bin/) contains code from the crates below and from the Rust standard",
        "library. Each is listed with the licence under which it is used and that licence's text",
        "as the crate publishes it. Generated by scripts/third_party_notices.py from Cargo's",
        f"metadata for the targets: {', '.join(TARGETS)}.",
        "",
    ]
    parts += [f'  {p["name"]} {p["version"]}  ({p["license"]})' for p in crates]
    title, text = rust_std_section()
    sections = [f"{rule}\n{title}\n{rule}\n\n{text}"]
    for package in crates:
        chosen, pieces = texts(package)
        header = f'{package["name"]} {package["version"]} -- {chosen}'
        if package.get("repository"):
            header += f'\n{package["repository"]}'
        body = "\n".join(f"--- {t} ---\n\n{x}" for t, x in pieces)
        sections.append(f"{rule}\n{header}\n{rule}\n\n{body}")
    with open(sys.argv[1], "w", encoding="utf-8", newline="\n") as out:
        out.write("\n".join(parts) + "\n\n" + "\n".join(sections))
    print(f"third_party_notices: {len(crates)} crates -> {sys.argv[1]}")


if __name__ == "__main__":
    main()
