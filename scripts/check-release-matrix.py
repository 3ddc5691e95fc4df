#!/usr/bin/env python3
"""Checks that the release workflow builds every library the .gdextension names, and nothing else.

    scripts/check-release-matrix.py

Each [libraries] key of addons/websocket_server/websocket_server.gdextension names a platform and
a flavour: `linux.debug.arm64` is built by `scripts/build-target.sh linux-arm64 debug`,
`macos.release` by `scripts/build-target.sh macos-universal release`. The build job of
.github/workflows/release.yml has one matrix entry per platform (`platform: linux-arm64`) and
steps that run build-target.sh for `${{ matrix.platform }}` in each flavour. This script fails
unless every key maps to a matrix platform built in that flavour, every matrix platform is one
build-target.sh knows and has at least one key (nothing built that Godot never loads), and the
build steps run for every platform (no `if:` on them, no matrix `exclude:`).

Only the standard library: the workflow is read line by line (indentation and `key: value`), which
is enough for the plain block YAML release.yml is written in.
"""

import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GDEXTENSION = os.path.join(REPO, "addons/websocket_server/websocket_server.gdextension")
RELEASE = os.path.join(REPO, ".github/workflows/release.yml")
BUILD_TARGET = os.path.join(REPO, "scripts/build-target.sh")
BUILD_JOB = "build"
BUILD_CALL = re.compile(
    r"scripts/build-target\.sh\s+[\"']?\$\{\{\s*matrix\.platform\s*\}\}[\"']?\s+[\"']?(\w+)")


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
    """(platform, flavour) that build-target.sh takes for a .gdextension key, or None."""
    parts = key.split(".")
    if len(parts) == 2 and parts[0] == "macos":
        return "macos-universal", parts[1]
    if len(parts) == 3:
        return f"{parts[0]}-{parts[2]}", parts[1]
    return None


def known_platforms():
    """The platforms build-target.sh's header lists (`#   PLATFORM: ...`)."""
    with open(BUILD_TARGET, encoding="utf-8") as f:
        found = re.search(r"^#\s+PLATFORM:\s+(.*)$", f.read(), re.MULTILINE)
    return set(found.group(1).split()) if found else set()


def indent(line):
    return len(line) - len(line.lstrip(" "))


def block(lines, start):
    """The lines after lines[start] that are indented deeper than it (blank lines kept)."""
    base, out = indent(lines[start]), []
    for line in lines[start + 1:]:
        if line.strip() and not line.lstrip().startswith("#") and indent(line) <= base:
            break
        out.append(line)
    return out


def find_key(lines, key, at_indent=None):
    for i, line in enumerate(lines):
        if re.match(rf"^\s*(- )?{re.escape(key)}:", line) and (at_indent is None or indent(line) == at_indent):
            return i
    return None


def list_items(lines):
    """Split a YAML block sequence into items (each a list of lines)."""
    items, item_indent = [], None
    for line in lines:
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("- ") and (item_indent is None or indent(line) == item_indent):
            item_indent = indent(line)
            items.append([])
        if items:
            items[-1].append(line)
    return items


def release_build_job(problems):
    """(matrix platforms, flavours each build step passes) of the release workflow's build job."""
    with open(RELEASE, encoding="utf-8") as f:
        lines = f.read().splitlines()
    jobs = find_key(lines, "jobs", 0)
    if jobs is None:
        problems.append("release.yml has no jobs:")
        return [], set()
    jobs_block = block(lines, jobs)
    job = next((i for i, line in enumerate(jobs_block)
                if re.match(rf"^\s+{BUILD_JOB}:\s*$", line)), None)
    if job is None:
        problems.append(f"release.yml has no job '{BUILD_JOB}'")
        return [], set()
    job_block = block(jobs_block, job)
    job_indent = next((indent(line) for line in job_block
                       if line.strip() and not line.lstrip().startswith("#")), 0)

    platforms = []
    matrix = find_key(job_block, "matrix")
    if matrix is not None:
        matrix_block = block(job_block, matrix)
        if find_key(matrix_block, "exclude") is not None:
            problems.append("the build matrix has an exclude:, which this check cannot follow")
        if any(re.match(r"^\s+platform:\s*\[", line) for line in matrix_block):
            problems.append("write the matrix as include: entries, one `platform:` each")
        for line in matrix_block:
            m = re.match(r"^\s*(- )?platform:\s*[\"']?([\w.-]+)[\"']?\s*(#.*)?$", line)
            if m:
                platforms.append(m.group(2))

    flavours = set()
    steps = find_key(job_block, "steps", job_indent)
    for item in list_items(block(job_block, steps)) if steps is not None else []:
        text = "\n".join(item)
        called = BUILD_CALL.findall(text)
        if "build-target.sh" in text and not called:
            problems.append(f"a build step runs build-target.sh other than for ${{{{ matrix.platform }}}}: {text.strip()!r}")
        if called and re.search(r"^\s*(- )?if:", text, re.MULTILINE):
            problems.append(f"the build step for {', '.join(called)} has an if:, so not every platform runs it")
        flavours.update(called)
    return platforms, flavours


def main():
    problems = []
    keys = library_keys()
    platforms, flavours = release_build_job(problems)
    known = known_platforms()
    if not keys:
        problems.append("no [libraries] entries in the .gdextension")
    if not platforms:
        problems.append("no `platform:` entries in the build job's matrix")
    if len(platforms) != len(set(platforms)):
        problems.append(f"a platform appears twice in the release matrix: {platforms}")
    for platform in platforms:
        if platform not in known:
            problems.append(f"release matrix platform {platform!r} is not one build-target.sh knows ({' '.join(sorted(known))})")
    wanted = {}
    for key in keys:
        mapped = platform_of(key)
        if mapped is None:
            problems.append(f".gdextension entry {key} names no platform build-target.sh builds")
            continue
        platform, flavour = mapped
        wanted.setdefault(platform, set()).add(flavour)
        if flavour not in ("debug", "release"):
            problems.append(f".gdextension entry {key}: flavour {flavour!r} is neither debug nor release")
        elif platform not in platforms:
            problems.append(f".gdextension entry {key} needs platform {platform!r}, which the release matrix does not build")
        elif flavour not in flavours:
            problems.append(f".gdextension entry {key} needs the {flavour!r} flavour, which no build step passes to build-target.sh")
    for platform in platforms:
        if platform not in wanted:
            problems.append(f"release matrix platform {platform!r} builds a library no .gdextension entry names")
    for flavour in sorted(flavours - {"debug", "release"}):
        problems.append(f"a build step passes the flavour {flavour!r}, which build-target.sh does not take")
    print(f"check-release-matrix: release.yml builds {', '.join(platforms) or 'nothing'} "
          f"in the flavours {', '.join(sorted(flavours)) or 'none'}")
    for key in keys:
        mapped = platform_of(key)
        if mapped and mapped[0] in platforms and mapped[1] in flavours:
            print(f"check-release-matrix:   {key:24} <- build-target.sh {mapped[0]} {mapped[1]}")
    if problems:
        for problem in problems:
            print(f"check-release-matrix: FAIL {problem}", file=sys.stderr)
        sys.exit(1)
    print(f"check-release-matrix: OK, all {len(keys)} .gdextension entries are built by the "
          f"{len(platforms)} platforms of the release matrix, and nothing else is")


if __name__ == "__main__":
    main()
