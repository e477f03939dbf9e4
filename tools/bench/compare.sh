#!/bin/sh
# The DIM(L) training step in cldim and in PyTorch on the same machine, side
# by side, with the ratio cldim/PyTorch (images/s; > 1 means cldim is faster).
# PYTHON= picks the interpreter (e.g. a venv with `pip install torch`: PyTorch 2.x
# with MKL and oneDNN, the one a user installs today; Debian's is 1.13 + OpenBLAS).
#
#   tools/bench/compare.sh [--cldim PATH] [--torch-device cpu|cuda] [--device SEL]
#                          [--batches "64 128"] [--reps N] [--threads N] [--mi-units D]
#                          [--tf32 0|1]   (PyTorch CUDA: TF32 matmuls/convolutions, default 0)
#                          [--layouts "nchw rows channels_last"]  (how PyTorch runs the
#                          critic's 1x1 convolutions; one row per layout, default nchw)
#
# cldim: `cldim bench --step-only` (the same step as dim_train_step, warm-up
# excluded, median of --reps). PyTorch: tools/bench/pytorch_step.py with
# /usr/bin/python3 (or $PYTHON). The two runs alternate per batch size so
# that machine load drifts hit both. Output: a markdown table on stdout.
# PyTorch from Debian uses the system libblas.so.3: install libopenblas0-pthread
# first (otherwise it is the slow reference BLAS and the ratio flatters cldim),
# and set OPENBLAS_NUM_THREADS=1 as in the issue's reference setup.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cldim=${CLDIM:-$here/../../build/cldim}
python=${PYTHON:-/usr/bin/python3}
tdev=cpu device=""
batches="64 128" reps=3 threads=2 mi=2048 encoder=dcgan32 tf32=0 layouts=nchw
while [ $# -gt 0 ]; do
	case $1 in
	--cldim) cldim=$2; shift 2 ;;
	--torch-device) tdev=$2; shift 2 ;;
	--device) device=$2; shift 2 ;;
	--batches) batches=$2; shift 2 ;;
	--reps) reps=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--mi-units) mi=$2; shift 2 ;;
	--encoder) encoder=$2; shift 2 ;;
	--tf32) tf32=$2; shift 2 ;;
	--layouts) layouts=$2; shift 2 ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "compare.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done
[ -x "$cldim" ] || { echo "compare.sh: $cldim is not an executable (build first or pass --cldim)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

field() { # file key -> value from the first record whose test is $3
	"$python" -c 'import json,sys
recs=json.load(open(sys.argv[1])); recs=recs if isinstance(recs,list) else [recs]
r=[x for x in recs if sys.argv[3]=="" or x.get("test")==sys.argv[3]][0]
print(r[sys.argv[2]])' "$1" "$2" "${3:-}"
}

# memory: peak RSS of model creation + the steps, and in parentheses
# (peak - RSS before the model) / batch, MiB per image (see cldim bench)
mem() { # json-file [test] -> "peak (per image)" or "-"
	"$python" -c 'import json,sys
recs=json.load(open(sys.argv[1])); recs=recs if isinstance(recs,list) else [recs]
r=[x for x in recs if sys.argv[3]=="" or x.get("test")==sys.argv[3]][0]
b,p=r.get("rss_base_mib"),r.get("rss_peak_mib")
print("-" if b is None or p is None else "%.0f (%.2f)" % (p, (p-b)/int(sys.argv[2])))' "$1" "$2" "${3:-}"
}

printf '| batch | cldim device | cldim images/s | PyTorch | layout | PyTorch images/s | cldim/PyTorch | cldim peak RSS MiB (per image) | PyTorch peak RSS MiB (per image) |\n'
printf '|---:|---|---:|---|---|---:|---:|---:|---:|\n'
for b in $batches; do
	echo "compare.sh: batch $b: cldim..." >&2
	set -- --step-only --no-record --batch "$b" --reps "$reps" --mi-units "$mi" --encoder "$encoder" -o json
	[ -n "$device" ] && set -- "$@" --device "$device"
	"$cldim" bench "$@" >"$tmp/c.json"
	ci=$(field "$tmp/c.json" images_per_s "DIM(L) train step")
	cd=$(field "$tmp/c.json" device "DIM(L) train step")
	cm=$(mem "$tmp/c.json" "$b" "DIM(L) train step")
	for lay in $layouts; do
		echo "compare.sh: batch $b: PyTorch ($tdev, $lay)..." >&2
		rc=0
		"$python" "$here/pytorch_step.py" --batch "$b" --device "$tdev" --threads "$threads" \
			--reps "$reps" --mi-units "$mi" --encoder "$encoder" --tf32 "$tf32" \
			--layout "$lay" >"$tmp/p.json" || rc=$?
		if [ $rc -ne 0 ]; then
			printf '| %s | %s | %.1f | %s | %s | - | - | %s | - |\n' "$b" "$cd" "$ci" "$tdev (unavailable)" "$lay" "$cm"
			continue
		fi
		pi=$(field "$tmp/p.json" images_per_s)
		pd="$(field "$tmp/p.json" framework), $(field "$tmp/p.json" device)"
		ratio=$("$python" -c "print('%.3f' % ($ci / $pi))")
		pm=$(mem "$tmp/p.json" "$b")
		printf '| %s | %s | %.1f | %s | %s | %.1f | %s | %s | %s |\n' "$b" "$cd" "$ci" "$pd" "$lay" "$pi" "$ratio" "$cm" "$pm"
	done
done
