"""cldim-test: timeout=120
The README cannot rot: each code block marked <!-- example: PATH --> is the
file PATH verbatim (those files are built and run by test_install), and the
layer-geometry table is exactly what `cldim info --arch all` prints from the
encoders the code builds (regenerate it with that command)."""
import os
import re
import subprocess
import sys

src = os.environ.get("CLDIM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
cli = os.environ.get("CLDIM_CLI")
if not cli or not os.path.exists(cli):
    sys.exit(77)
readme = open(os.path.join(src, "README.md"), encoding="utf-8").read()
failures = 0

examples = re.findall(r"<!-- example: (\S+) -->\n```[a-z]*\n(.*?)```\n", readme, re.S)
if len(examples) < 2:
    print(f"README: {len(examples)} marked examples, want the C and the Python one",
          file=sys.stderr)
    failures += 1
for path, block in examples:
    text = open(os.path.join(src, path), encoding="utf-8").read()
    if block != text:
        print(f"README: the block marked {path} differs from the file", file=sys.stderr)
        failures += 1
    else:
        print(f"README block = {path}")

m = re.search(r"<!-- layer-table: cldim info --arch all -->\n(.*?)<!-- layer-table end -->",
              readme, re.S)
p = subprocess.run([cli, "info", "--arch", "all"], capture_output=True, text=True)
if p.returncode != 0:
    print(f"cldim info --arch all: exit {p.returncode}: {p.stderr}", file=sys.stderr)
    failures += 1
elif not m or m.group(1) != p.stdout:
    have = m.group(1).splitlines() if m else []
    want = p.stdout.splitlines()
    diff = [f"  README: {a}\n  code:   {b}" for a, b in zip(have, want) if a != b][:3]
    print("README: the layer table differs from `cldim info --arch all` "
          f"({len(have)} vs {len(want)} lines); paste that command's output:\n" + "\n".join(diff),
          file=sys.stderr)
    failures += 1
else:
    print(f"README layer table = cldim info --arch all ({len(p.stdout.splitlines())} lines)")
sys.exit(1 if failures else 0)
