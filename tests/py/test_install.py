"""cldim-test: timeout=600
`cmake --install` into a temporary prefix gives a usable library: the shared
library with its soname and the static archive, exactly the public headers
(each compiles on its own), cldim.pc, the CMake package, the man page and the
cldim command. The C example (examples/c/encode.c) built against the
installed tree with pkg-config and with CMake (shared and static), and the
Python example run on the package installed with `pip install`, print the
features `cldim extract` writes."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

src = os.environ.get("CLDIM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
build = os.environ.get("CLDIM_BINARY_DIR")
cli = os.environ.get("CLDIM_CLI")
cmake = shutil.which("cmake")
if not build or not cli or not cmake or not os.path.exists(os.path.join(build, "libcldim.so")):
    print("needs CLDIM_BINARY_DIR, CLDIM_CLI, cmake and the shared library", file=sys.stderr)
    sys.exit(77)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synth  # noqa: E402

failures = 0


def fail(msg):
    global failures
    print("FAIL: " + msg, file=sys.stderr)
    failures += 1


def sh(*args, env=None, cwd=None):
    p = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: exit {p.returncode}\n{p.stdout[-3000:]}\n"
                         f"{p.stderr[-3000:]}")
    return p.stdout


def same_features(what, text, want_labels, want):
    labels, feats = synth.parse_lines(text)
    if feats.shape != want.shape or not np.array_equal(labels, want_labels):
        return fail(f"{what}: {feats.shape} rows, labels {labels[:5]}; want {want.shape}, "
                    f"{want_labels[:5]}")
    err = np.abs(feats - want).max()
    print(f"{what}: {feats.shape} max abs diff to cldim extract {err:.3g}")
    if not err <= 1e-5:
        fail(f"{what}: differs from cldim extract by {err:.3g}")


tmp = tempfile.mkdtemp(prefix="cldim-install-")
try:
    prefix = os.path.join(tmp, "prefix")
    sh(cmake, "--install", build, "--prefix", prefix)
    libdir = os.path.dirname(glob.glob(os.path.join(prefix, "lib*", "pkgconfig", "cldim.pc"))[0])
    libdir = os.path.dirname(libdir)

    # the tree
    so = os.path.join(libdir, "libcldim.so")
    real = os.path.realpath(so)
    if not os.path.islink(so) or not os.path.basename(real).startswith("libcldim.so."):
        fail(f"libcldim.so is not a link to a versioned library: {real}")
    soname = sh("objdump", "-p", real) if shutil.which("objdump") else ""
    if soname and "SONAME               libcldim.so.0.1" not in soname:
        fail("soname of the installed library is not libcldim.so.0.1")
    for f in ("libcldim.a", "cmake/cldim/cldimConfig.cmake", "cmake/cldim/cldimConfigVersion.cmake"):
        if not os.path.exists(os.path.join(libdir, f)):
            fail(f"missing {f}")
    cache = open(os.path.join(build, "CMakeCache.txt")).read()
    public = {os.path.basename(h) for h in glob.glob(os.path.join(src, "include", "cldim", "*.h"))}
    if "CLDIM_WITH_MPI:BOOL=ON" not in cache:
        public.discard("mpi.h")
    installed = set(os.listdir(os.path.join(prefix, "include", "cldim")))
    if installed != public:
        fail(f"headers: extra {sorted(installed - public)}, missing {sorted(public - installed)}")
    man = open(os.path.join(prefix, "share", "man", "man1", "cldim.1")).read()
    for c in ("export", "extract", "train", "info"):
        if f".SS cldim {c}\n" not in man:
            fail(f"man page has no section for cldim {c}")
    if "cldim 0.1" not in sh(os.path.join(prefix, "bin", "cldim"), "--version"):
        fail("installed cldim --version")

    # every installed header compiles on its own (no internal header needed)
    cc = os.environ.get("CC", "cc")
    for h in sorted(installed):
        c = os.path.join(tmp, "hdr.c")
        with open(c, "w") as f:
            f.write(f"#include <cldim/{h}>\nint main(void) {{ return 0; }}\n")
        p = subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                            "-I" + os.path.join(prefix, "include"), c],
                           capture_output=True, text=True)
        if p.returncode:
            fail(f"cldim/{h} does not compile on its own:\n{p.stderr[-800:]}")

    data, run, enc, _ = synth.trained_export(cli, tmp)
    want, want_labels = synth.extract(cli, enc, data, "Y", os.path.join(tmp, "y.npy"))
    n = str(len(want))
    example = os.path.join(src, "examples", "c", "encode.c")

    # C consumer via pkg-config (shared library, found through the rpath)
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"))
    flags = sh("pkg-config", "--cflags", "--libs", "cldim", env=env).split()
    exe = os.path.join(tmp, "encode_pc")
    sh(cc, "-std=c11", "-Wall", "-Wextra", "-Werror", example, *flags,
       "-Wl,-rpath," + libdir, "-o", exe)
    same_features("C via pkg-config", sh(exe, enc, data, n), want_labels, want)

    # C consumer via find_package(cldim): cldim::cldim and cldim::cldim_static
    cb = os.path.join(tmp, "cmake-build")
    sh(cmake, "-S", os.path.join(src, "examples", "c"), "-B", cb,
       "-DCMAKE_PREFIX_PATH=" + prefix, "-DCMAKE_BUILD_TYPE=Release")
    sh(cmake, "--build", cb)
    same_features("C via CMake (shared)", sh(os.path.join(cb, "encode"), enc, data, n),
                  want_labels, want)
    if not os.path.exists(os.path.join(cb, "encode_static")):
        fail("cldim::cldim_static was not defined by the CMake package")
    else:
        same_features("C via CMake (static)", sh(os.path.join(cb, "encode_static"), enc, data, n),
                      want_labels, want)

    # Python: pip install ./python (offline, Debian's setuptools), the library
    # from the installed prefix through the loader path
    pysrc = os.path.join(tmp, "python-src")
    shutil.copytree(os.path.join(src, "python"), pysrc,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = os.path.join(tmp, "site")
    sh(sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
       "--no-index", "--no-cache-dir", "--target", site, pysrc)
    env = {k: v for k, v in os.environ.items() if k != "CLDIM_LIBRARY"}
    env.update(PYTHONPATH=site, LD_LIBRARY_PATH=libdir)
    where = sh(sys.executable, "-c", "import cldim; print(cldim.__file__, cldim.library_path)",
               env=env, cwd=tmp)
    print("python:", where.strip())
    if not where.startswith(site):
        fail(f"imported cldim from {where.split()[0]}, not the pip-installed copy")
    out = sh(sys.executable, os.path.join(src, "examples", "python", "encode.py"), enc, data, n,
             env=env, cwd=tmp)
    same_features("Python (pip-installed)", out, want_labels, want)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if failures else 0)
