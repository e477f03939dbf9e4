#!/usr/bin/env python3
"""Negative tests for check_layers.py: in small trees that use the real
docs/design.md (layer order and exception list; the exception cases add their
own line to the tree's copy), every kind of violation
makes the check fail and name the file, and a clean tree passes."""

import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CHECK = os.path.join(HERE, "check_layers.py")
failures = 0


def put(root, rel, text=""):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def run(root, *extra):
    r = subprocess.run([sys.executable, CHECK, "--root", root, *extra], capture_output=True,
                       text=True)
    return r.returncode, r.stdout + r.stderr


def expect(what, root, rc_want, needle=None, *extra):
    global failures
    rc, out = run(root, *extra)
    ok = rc == rc_want and (needle is None or needle in out)
    print(f"{'ok  ' if ok else 'FAIL'} {what}: rc {rc}")
    if not ok:
        failures += 1
        print(f"  wanted rc {rc_want}" + (f" and '{needle}' in the output" if needle else ""))
        print("  " + out.replace("\n", "\n  "))


def base_tree(tmp):
    root = os.path.join(tmp, "repo")
    os.makedirs(os.path.join(root, "docs"))
    shutil.copy(os.path.join(ROOT, "docs", "design.md"), os.path.join(root, "docs"))
    put(root, "include/cldim/status.h", "/* base */\n")
    put(root, "include/cldim/runtime.h", '#include "cldim/status.h"\n')
    put(root, "include/cldim/dim.h", '#include "cldim/runtime.h"\n')
    put(root, "host/runtime/internal.h", '#include "cldim/runtime.h"\n')
    put(root, "host/runtime/context.c", '#include "cldim/runtime.h"\n#include "internal.h"\n')
    put(root, "host/dim/trainer.c", '#include "cldim/dim.h"\n')
    put(root, "tools/cli/main.c", '#include "cldim/dim.h"\n')
    return root


def main():
    with tempfile.TemporaryDirectory(prefix="cldim-layers-") as tmp:
        root = base_tree(tmp)
        expect("clean tree passes", root, 0, "check_layers: ok")

        put(root, "host/runtime/devices.c", '#include "cldim/dim.h"\n')
        expect("runtime including a dim header fails", root, 1,
               'host/runtime/devices.c: #include "cldim/dim.h": runtime includes dim')
        os.remove(os.path.join(root, "host/runtime/devices.c"))

        put(root, "tools/bench/x.c", '#include "../../host/runtime/internal.h"\n')
        expect("a tool including runtime's private header fails", root, 1,
               "host/runtime/internal.h is private to runtime")
        os.remove(os.path.join(root, "tools/bench/x.c"))

        put(root, "host/newlayer/x.c", "int x;\n")
        expect("a folder in no layer fails", root, 1, "host/newlayer/x.c: in no layer")
        os.remove(os.path.join(root, "host/newlayer/x.c"))

        put(root, "host/runtime/context.c", '#include "cldim/runtime.h"\n/* see ../shared/DESIGN.md */\n')
        expect("a comment pointing outside the repository fails", root, 1,
               "host/runtime/context.c:2: points outside the repository")
        put(root, "host/runtime/context.c", '#include "cldim/runtime.h"\n#include "internal.h"\n')

        # The tree's own exception, so these cases do not depend on what the real list
        # still holds (it only shrinks).
        design = os.path.join(root, "docs", "design.md")
        with open(design) as f:
            text = f.read()
        fence = "```layer-exceptions\n"
        assert fence in text, "docs/design.md has no layer-exceptions block"
        with open(design, "w") as f:
            f.write(text.replace(fence, fence + "include/cldim/op_conv.h -> include/cldim/autodiff.h\n"))
        put(root, "include/cldim/autodiff.h", '#include "cldim/runtime.h"\n')
        put(root, "include/cldim/op_conv.h", '#include "cldim/autodiff.h"\n')
        expect("a listed exception is tolerated", root, 0, "check_layers: ok")
        put(root, "include/cldim/op_conv.h", '#include "cldim/runtime.h"\n')
        expect("a fixed exception still listed fails", root, 1,
               "'include/cldim/op_conv.h -> include/cldim/autodiff.h' is no longer needed")
        put(root, "include/cldim/op_conv.h", '#include "cldim/runtime.h"\n#include "cldim/dim.h"\n')
        expect("an unlisted look-up from a file with an exception fails", root, 1,
               'include/cldim/op_conv.h: #include "cldim/dim.h": ops includes dim')
        os.remove(os.path.join(root, "include/cldim/op_conv.h"))

        # Calls between objects, without any #include of the higher header.
        cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        if not cc or not shutil.which("nm"):
            print("skipped: no C compiler or nm for the object checks")
            return 77 if failures == 0 else 1
        build = os.path.join(tmp, "build")
        objdir = os.path.join(build, "CMakeFiles", "cldim.dir")

        def compile_(rel, text):
            put(root, rel, text)
            obj = os.path.join(objdir, rel + ".o")
            os.makedirs(os.path.dirname(obj), exist_ok=True)
            subprocess.run([cc, "-c", "-o", obj, os.path.join(root, rel)], check=True)

        compile_("host/dim/trainer.c", "int dim_up(void) { return 1; }\n")
        compile_("host/runtime/context.c", "int dim_down(void) { return 2; }\n")
        expect("objects that only call down pass", root, 0, "check_layers: ok", "--build", build)
        compile_("host/runtime/devices.c",
                 "int dim_up(void);\nint dim_pick(void) { return dim_up(); }\n")
        expect("runtime calling a dim function fails", root, 1,
               "host/runtime/devices.c: calls dim_up from host/dim/trainer.c", "--build", build)
        os.remove(os.path.join(root, "host/runtime/devices.c"))
        expect("objects of deleted sources are ignored", root, 0, "check_layers: ok",
               "--build", build)
        compile_("host/dim/objective.c",
                 "int clFinish(void *q);\nint dim_sync(void *q) { return clFinish(q); }\n")
        expect("an OpenCL call above runtime fails", root, 1,
               "host/dim/objective.c: calls clFinish: only runtime calls", "--build", build)
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
