#!/usr/bin/env bash
# A 3-step `cldim train` on Oclgrind's simulated GPU (tests/oclgrind/run.sh:
# any Oclgrind diagnostic fails it, race detector included): 8 Fashion-MNIST
# images resized to 12x12 for the test encoder tiny12, batch 4, a narrow local
# critic, checkpoint at the end. Then the run directory must hold three metric
# lines with finite losses and the final checkpoint.
#
#   tests/oclgrind/train.sh PATH/TO/cldim
set -u
cli="${1:?usage: $0 PATH/TO/cldim}"
here="$(cd "$(dirname "$0")" && pwd)"
data=/usr/share/datasets/fashion-mnist
if [ ! -d "$data" ]; then
	echo "skipped: no $data (apt-get install dataset-fashion-mnist)"
	exit 77
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/cldim-oclgrind-train.XXXXXX")
trap 'rm -rf "$out"' EXIT

"$here/run.sh" "$cli" train --data "$data" --encoder tiny12 --limit 8 --batch 4 \
	--mi-units 16 --y-dim 16 --steps 3 --ckpt-every 0 --progress none --out "$out/run" || exit 1

fail=0
lines=$(grep -c '"step"' "$out/run/metrics.jsonl" 2>/dev/null || echo 0)
if [ "$lines" -ne 3 ]; then
	echo "FAIL: $lines metric lines in $out/run/metrics.jsonl, expected 3" >&2
	fail=1
fi
if grep -q -E 'nan|inf' "$out/run/metrics.jsonl" 2>/dev/null; then
	echo "FAIL: non-finite loss in metrics.jsonl:" >&2
	cat "$out/run/metrics.jsonl" >&2
	fail=1
fi
if [ ! -s "$out/run/ckpt-00000003.safetensors" ]; then
	echo "FAIL: no final checkpoint ckpt-00000003.safetensors" >&2
	ls -l "$out/run" >&2
	fail=1
fi
[ "$fail" = 0 ] && echo "ok: 3 steps on the simulated GPU, finite losses, checkpoint written"
exit "$fail"
