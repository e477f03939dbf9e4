#!/usr/bin/env python3
"""Layer check: no file of a lower layer depends on a higher layer.

The layer order and the tolerated exceptions are read from docs/design.md,
from two fenced blocks:

    ```layers
    # name   members (globs, relative to the repository root)
    base     include/cldim/status.h host/base/*
    runtime  include/cldim/runtime.h host/runtime/*
    ...
    ```

    ```layer-exceptions
    include/cldim/op_conv.h -> include/cldim/autodiff.h
    ```

The first block lists the layers bottom to top; a file belongs to the first
layer with a matching glob. The second lists, by exact file names, the known
dependencies that still look up. Rules checked:

  1. every .c/.h under host/, include/ and tools/ belongs to a layer;
  2. an `#include "..."` may name a file of the same layer or a lower one;
  3. a header under host/ is private to its layer (no other layer includes it);
  4. with --build DIR: a library object may call only functions defined in
     its own layer or a lower one (from `nm` on the objects CMake built), so
     a call that needs no #include of the higher header is caught as well,
     and only runtime and the layers below it call the OpenCL and CLBlast
     APIs (an exception names its target "OpenCL API");
  5. every exception is still needed: a fixed one must be deleted from the
     list, so the list can only shrink;
  6. no tracked text file points outside the repository for the design or
     the method (../shared/, dim-spec, DESIGN.md): they are in docs/.

Exit status 0 when clean, 1 with one line per problem otherwise, 2 when
docs/design.md has no usable layer list."""

import argparse
import fnmatch
import os
import re
import subprocess
import sys


def fenced_block(text, tag):
    m = re.search(r"^```" + re.escape(tag) + r"[ \t]*\n(.*?)^```", text, re.S | re.M)
    if not m:
        return None
    lines = []
    for raw in m.group(1).splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def read_design(root):
    path = os.path.join(root, "docs", "design.md")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        sys.exit(f"check_layers: {path}: {e.strerror}")
    rows = fenced_block(text, "layers")
    if not rows:
        print(f"check_layers: {path}: no ```layers block", file=sys.stderr)
        sys.exit(2)
    layers = []
    for row in rows:
        name, *globs = row.split()
        if not globs:
            print(f"check_layers: {path}: layer '{name}' has no members", file=sys.stderr)
            sys.exit(2)
        layers.append((name, globs))
    exceptions = set()
    for row in fenced_block(text, "layer-exceptions") or []:
        parts = [p.strip() for p in row.split("->")]
        if len(parts) != 2 or not all(parts):
            print(f"check_layers: {path}: bad exception line '{row}' (want 'FILE -> FILE')",
                  file=sys.stderr)
            sys.exit(2)
        exceptions.add(tuple(parts))
    return layers, exceptions


def layer_of(rel, layers):
    for i, (_, globs) in enumerate(layers):
        for g in globs:
            if fnmatch.fnmatchcase(rel, g):
                return i
    return None


def source_files(root):
    out = []
    for top in ("host", "include", "tools"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    out.append(os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/"))
    return sorted(out)


INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def resolve(root, rel, name):
    here = os.path.dirname(rel)
    for base in (here, "include", "host", "tools/cli"):
        cand = os.path.normpath(os.path.join(base, name)).replace(os.sep, "/")
        if not cand.startswith("..") and os.path.isfile(os.path.join(root, cand)):
            return cand
    return None


def check_includes(root, layers, exceptions, used, checked, problems):
    for rel in source_files(root):
        checked.add(rel)
        li = layer_of(rel, layers)
        if li is None:
            problems.append(f"{rel}: in no layer of docs/design.md (add it to the ```layers list)")
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for name in INCLUDE.findall(text):
            target = resolve(root, rel, name)
            if target is None:
                continue  # generated or system-style header
            ti = layer_of(target, layers)
            if ti is None:
                continue  # reported on its own
            why = None
            if ti > li:
                why = (f"{layers[li][0]} includes {layers[ti][0]}, a higher layer")
            elif target.startswith("host/") and target.endswith(".h") and ti != li:
                why = f"{target} is private to {layers[ti][0]}"
            if why:
                if (rel, target) in exceptions:
                    used.add((rel, target))
                else:
                    problems.append(f"{rel}: #include \"{name}\": {why}")


OUTSIDE = re.compile(r"\.\./shared|dim-spec|\bDESIGN\.md")


def check_outside_refs(root, problems):
    for top in ("host", "include", "tools", "cl", "tests", "docs", "cmake", ".ci"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if not f.endswith((".c", ".h", ".cl", ".py", ".md", ".cmake", ".sh", ".txt", "run")):
                    continue
                path = os.path.join(d, f)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                if rel.startswith("tests/layers/"):
                    continue  # this checker and its tests name the patterns
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for n, line in enumerate(fh, 1):
                        if OUTSIDE.search(line):
                            problems.append(f"{rel}:{n}: points outside the repository "
                                            "(the design and the method are in docs/)")
    for f in ("README.md", "BENCHMARKS.md", "CMakeLists.txt"):
        path = os.path.join(root, f)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as fh:
                for n, line in enumerate(fh, 1):
                    if OUTSIDE.search(line):
                        problems.append(f"{f}:{n}: points outside the repository "
                                        "(the design and the method are in docs/)")


def nm_symbols(obj, *flags):
    out = subprocess.run(["nm", "-P", *flags, obj], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"nm {obj}: {out.stderr.strip()}")
    syms = set()
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            syms.add(parts[0])
    return syms


def check_symbols(root, build, layers, exceptions, used, checked, problems):
    # the library's objects: the object library cldim_objs (one PIC build for
    # the static and the shared library), or cldim.dir in older trees
    objdir = os.path.join(build, "CMakeFiles", "cldim_objs.dir")
    if not os.path.isdir(objdir):
        objdir = os.path.join(build, "CMakeFiles", "cldim.dir")
    if not os.path.isdir(objdir):
        problems.append(f"{objdir}: no library objects (build the project first)")
        return
    objs = {}
    for d, _, files in os.walk(objdir):
        for f in files:
            if not f.endswith(".c.o"):
                continue
            path = os.path.join(d, f)
            src = os.path.relpath(path, objdir).replace(os.sep, "/")[:-2]
            # objects of deleted or moved sources stay in an old build tree
            if src.startswith("host/") and os.path.isfile(os.path.join(root, src)):
                objs[src] = path
    if not objs:
        problems.append(f"{objdir}: no objects for host/*.c")
        return
    rt = [i for i, (name, _) in enumerate(layers) if name == "runtime"]
    defined = {}
    for src, path in objs.items():
        for s in nm_symbols(path, "-g", "--defined-only"):
            defined[s] = src
    for src, path in sorted(objs.items()):
        li = layer_of(src, layers)
        if li is None:
            continue  # reported by the include check
        checked.add(src)
        for s in sorted(nm_symbols(path, "-u")):
            target = defined.get(s)
            if target is None:
                if rt and li > rt[0] and re.match(r"(cl[A-Z]|CLBlast)", s):
                    if (src, "OpenCL API") in exceptions:
                        used.add((src, "OpenCL API"))
                    else:
                        problems.append(f"{src}: calls {s}: only runtime calls the OpenCL and "
                                        "CLBlast APIs")
                continue
            ti = layer_of(target, layers)
            if ti is None or ti <= li:
                continue
            if (src, target) in exceptions:
                used.add((src, target))
            else:
                problems.append(f"{src}: calls {s} from {target}: {layers[li][0]} uses "
                                f"{layers[ti][0]}, a higher layer")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("--build", help="build directory: also check calls between objects")
    ap.add_argument("--list", action="store_true", help="print each file's layer and exit")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    layers, exceptions = read_design(root)
    if a.list:
        for rel in source_files(root):
            li = layer_of(rel, layers)
            print(f"{layers[li][0] if li is not None else '?':10} {rel}")
        return 0
    problems, used, checked, linked = [], set(), set(), set()
    check_includes(root, layers, exceptions, used, checked, problems)
    check_outside_refs(root, problems)
    if a.build:
        check_symbols(root, os.path.abspath(a.build), layers, exceptions, used, linked, problems)
    for src, target in sorted(exceptions - used):
        # a call from a file this build does not compile (host/mpi/ without
        # CLDIM_WITH_MPI) cannot be seen, so it cannot be stale either
        if target.endswith(".c") or target == "OpenCL API":
            if src not in linked:
                continue
        elif src not in checked:
            continue
        problems.append(f"docs/design.md: exception '{src} -> {target}' is no longer needed: "
                        "delete it from the ```layer-exceptions list")
    for p in problems:
        print(p)
    order = " < ".join(name for name, _ in layers)
    if problems:
        print(f"check_layers: {len(problems)} problem(s); layer order {order}")
        return 1
    print(f"check_layers: ok ({len(exceptions)} listed exception(s)); layer order {order}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
