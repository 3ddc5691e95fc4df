#!/usr/bin/env python3
"""Checks that the release workflow builds every library the .gdextension names, and nothing else.

    scripts/check-release-matrix.py

Each [libraries] key of addons/websocket_server/websocket_server.gdextension names a platform and
a flavour: `linux.debug.arm64` is built by `scripts/build-target.sh linux-arm64 debug`,
`macos.release` by `scripts/build-target.sh macos-universal release`. The release workflow's
build job has one matrix entry per platform (`- platform: linux-arm64`) and steps that run
build-target.sh for `${{ matrix.platform }}` in both flavours. This script fails unless every key
maps to a matrix platform built in that flavour, every matrix platform is one build-target.sh
knows, and every matrix platform has at least one key (nothing built that Godot never loads).
"""

import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GDEXTENSION = os.path.join(REPO, "addons/websocket_server/websocket_server.gdextension")
RELEASE = os.path.join(REPO, ".github/workflows/release.yml")
BUILD_TARGET = os.path.join(REPO, "scripts/build-target.sh")


def library_keys():
    keys, section = [], None
    with open(GDEXTENSION, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[libraries]" and "=" in line and not line.startswith(";"):
                keys.append(line.split("=", 1)[0].strip())
    return keys


def platform_of(key):
    """(platform, flavour) that build-target.sh takes for a .gdextension key."""
    parts = key.split(".")
    if parts[0] == "macos" and len(parts) == 2:
        return "macos-universal", parts[1]
    if len(parts) == 3:
        return f"{parts[0]}-{parts[2]}", parts[1]
    raise SystemExit(f"check-release-matrix: cannot read the key {key!r}")


def known_platforms():
    """The platforms build-target.sh's usage line lists."""
    with open(BUILD_TARGET, encoding="utf-8") as f:
        text = f.read()
    found = re.search(r"#   PLATFORM: (.*)", text)
    return set(found.group(1).split()) if found else set()


def release_matrix():
    """(matrix platforms, flavours that build steps pass to build-target.sh for matrix.platform)."""
    with open(RELEASE, encoding="utf-8") as f:
        text = f.read()
    platforms = re.findall(r"^\s*- platform: *([\w-]+)\s*$", text, re.MULTILINE)
    flavours = set(re.findall(
        r"scripts/build-target\.sh\s+\"?\$\{\{ *matrix\.platform *\}\}\"?\s+(\w+)", text))
    return platforms, flavours


def main():
    keys = library_keys()
    platforms, flavours = release_matrix()
    known = known_platforms()
    problems = []
    if len(platforms) != len(set(platforms)):
        problems.append(f"a platform appears twice in the release matrix: {platforms}")
    for platform in platforms:
        if platform not in known:
            problems.append(f"release matrix platform {platform!r} is not one build-target.sh knows ({sorted(known)})")
    wanted = {}
    for key in keys:
        platform, flavour = platform_of(key)
        wanted.setdefault(platform, set()).add(flavour)
        if platform not in platforms:
            problems.append(f".gdextension entry {key} needs platform {platform!r}, which the release matrix does not build")
        elif flavour not in flavours:
            problems.append(f".gdextension entry {key} needs the {flavour!r} flavour, which no build step passes to build-target.sh")
    for platform in platforms:
        if platform not in wanted:
            problems.append(f"release matrix platform {platform!r} builds a library no .gdextension entry names")
    for platform in sorted(wanted):
        print(f"check-release-matrix: {platform}: {', '.join(sorted(wanted[platform]))}")
    if problems:
        for problem in problems:
            print(f"check-release-matrix: FAIL {problem}", file=sys.stderr)
        sys.exit(1)
    print(f"check-release-matrix: all {len(keys)} .gdextension entries are built by the "
          f"{len(platforms)} platforms of the release matrix")


if __name__ == "__main__":
    main()
