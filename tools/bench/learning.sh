#!/bin/sh
# Learning benchmark (issue 19): train DIM on Fashion-MNIST for E epochs, run
# `cldim eval` (linear probe by L-BFGS with its L2 penalty chosen on held-out
# train rows, the paper's 200-unit MLP probe, k-NN) on DIM's conv, fc and Y and
# on the baselines (a randomly initialised encoder of the same architecture,
# raw pixels), and append one row to BENCHMARKS.md's "Learning" table.
#
# usage: tools/bench/learning.sh [options] [-- extra `cldim train` options]
#   -e EPOCHS      training epochs (2)
#   -s SEED        training and probe seed (1)
#   -E ESTIMATOR   jsd (default) | nce | dv
#   -p PRESET      local (default: a=0 b=1 g=0.1) | local-noprior | local+global | global
#   -d DATA        dataset (/usr/share/datasets/fashion-mnist)
#   -t N           eval train images (10000; 0 = all 60,000); test images: all
#   -m N           MLP probe epochs at most (cldim eval's default: 100, the epoch
#                  chosen on 10% held-out train rows, early stop)
#   -o DIR         run and eval directory (runs/learning-<preset>-<est>-e<E>-s<S>)
#   -b FILE        the table to append to (BENCHMARKS.md next to this script's repo)
#   -c CLDIM       the cldim binary (build/cldim)
#   -r             reuse DIR's finished training run (re-evaluate only)
#   -n             dry run: print the row, do not append it
# The row: preset, estimator, epochs, seed, DIM conv/fc/Y linear and MLP test
# accuracy, the random encoder's and raw pixels' best, training wall time and
# images/s. The full eval table is kept in DIR/eval.md and DIR/eval.json.
# A training run stopped early (Ctrl-C: cldim saves a checkpoint) is evaluated
# at the step it reached; its row says "X of E epochs (stopped)". Resume it with
# `cldim train --resume DIR/run`, then -r.
# The baselines (raw pixels, the random encoder) depend only on the encoder, the
# seed, the eval rows and options and the cldim binary: they are evaluated once
# per such key into runs/learning-baselines/KEY/ and reused (the row says so);
# delete that folder to recompute them.
set -eu

here=$(cd "$(dirname "$0")/../.." && pwd)
epochs=2 seed=1 est=jsd preset=local data=/usr/share/datasets/fashion-mnist
trl=10000 mlp= out= bench=$here/BENCHMARKS.md cldim=$here/build/cldim dry=0 reuse=0
while getopts e:s:E:p:d:t:m:o:b:c:rnh opt; do
	case $opt in
	e) epochs=$OPTARG ;;
	s) seed=$OPTARG ;;
	E) est=$OPTARG ;;
	p) preset=$OPTARG ;;
	d) data=$OPTARG ;;
	t) trl=$OPTARG ;;
	m) mlp=$OPTARG ;;
	o) out=$OPTARG ;;
	b) bench=$OPTARG ;;
	c) cldim=$OPTARG ;;
	n) dry=1 ;;
	r) reuse=1 ;;
	h) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "learning.sh: see -h" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
[ -x "$cldim" ] || { echo "learning.sh: $cldim is not built (cmake --build build)" >&2; exit 2; }
[ -e "$data" ] || { echo "learning.sh: $data: no such dataset" >&2; exit 2; }
command -v python3 >/dev/null || { echo "learning.sh: needs python3 (for the JSON)" >&2; exit 2; }
[ -n "$out" ] || out=$here/runs/learning-$(echo "$preset" | tr + _)-$est-e$epochs-s$seed
mkdir -p "$out"

if [ "$reuse" = 1 ] && [ -f "$out/train.log" ]; then
	echo "learning.sh: reusing the training run in $out/run" >&2
else
	echo "learning.sh: training $preset/$est, $epochs epochs, seed $seed -> $out/run" >&2
	t0=$(date +%s)
	"$cldim" train --data "$data" --epochs "$epochs" --seed "$seed" --estimator "$est" \
		--preset "$preset" --out "$out/run" --progress lines --log-every 60 "$@" \
		2>&1 | tee "$out/train.log" >&2
	echo $(($(date +%s) - t0)) >"$out/train.wall"
fi
# the done line's seconds when the wall time was not recorded (a run stopped by
# a signal to the whole job, or resumed by hand)
done_line=$(grep '^done: ' "$out/train.log" | tail -n 1)
[ -n "$done_line" ] || { echo "learning.sh: training did not finish (see $out/train.log)" >&2; exit 1; }
twall=$(cat "$out/train.wall" 2>/dev/null ||
	echo "$done_line" | sed -n 's/.* in \([0-9]*\)\.[0-9]* s.*/\1/p')
t1=$(date +%s)

enc=$(sed -n 's/^config: .*"encoder":"\([^"]*\)".*"y_dim":\([0-9]*\).*/\1 y\2/p' \
	"$out/train.log" | head -n 1)
key=$(printf '%s|' "$enc" "$seed" "$trl" "$mlp" "$data" "$(sha256sum <"$cldim")" |
	sha256sum | cut -c1-12)
bdir=$here/runs/learning-baselines/$key
nobase=
[ -f "$bdir/eval.json" ] && nobase=--no-baselines

echo "learning.sh: evaluating (train limit $trl, MLP epochs ${mlp:-default}${nobase:+; baselines from $bdir})" >&2
"$cldim" eval --checkpoint "$out/run" --train-limit "$trl" --test-limit 0 $nobase \
	${mlp:+--mlp-epochs "$mlp"} --seed "$seed" --ndm-steps 0 --json >"$out/eval.json" \
	2>"$out/eval.log"
t2=$(date +%s)

python3 - "$out/eval.json" "$bench" "$dry" "$preset" "$est" "$epochs" "$seed" "$trl" \
	"$done_line" "$twall" "$((t2 - t1))" "$out" "$bdir" "$nobase" <<'EOF'
import json, os, re, sys

path, bench, dry, preset, est, epochs, seed, trl, done, twall, ewall, out, bdir, nobase \
    = sys.argv[1:]
ev = json.load(open(path))
if nobase:
    # the baselines' rows from the run that computed them for this key
    base = json.load(open(f"{bdir}/eval.json"))
    if (base["train_images"], base["test_images"]) != (ev["train_images"], ev["test_images"]):
        sys.exit(f"learning.sh: {bdir}: baselines on other rows; delete it and rerun")
    ev["rows"] = [r for r in base["rows"] if r["model"] != "DIM"] + ev["rows"]
    ev["baselines_from"] = bdir
    json.dump(ev, open(path, "w"), indent=2)
else:
    os.makedirs(bdir, exist_ok=True)
    json.dump({**ev, "rows": [r for r in ev["rows"] if r["model"] != "DIM"]},
              open(f"{bdir}/eval.json.tmp", "w"), indent=2)
    os.replace(f"{bdir}/eval.json.tmp", f"{bdir}/eval.json")
rows = {(r["model"], r["repr"]): r for r in ev["rows"]}
log = open(f"{out}/train.log").read()
# the done line's images/s is the latest window's rate; the row has the mean
m = re.search(r"done: (\d+) steps? (?:\(\d+ to \d+\) )?in ([\d.]+) s", done)
cfg = re.search(r'"batch":(\d+)', log)
ips = int(m.group(1)) * int(cfg.group(1) if cfg else 64) / float(m.group(2))
# a run stopped early is labelled with the epochs it trained
per = re.findall(r"batch \d+/(\d+)", log)
stop = re.search(r"interrupted at step (\d+)", log)
if stop and per:
    epochs = f"{int(stop.group(1)) / int(per[-1]):.1f} of {epochs} (stopped)"


def acc(model, repr_, key):
    r = rows.get((model, repr_))
    return f"{100 * r[key]:.2f}" if r else "–"


def pair(model, repr_):
    return f"{acc(model, repr_, 'linear')} / {acc(model, repr_, 'mlp')}"


notconv = [f"{k[0]} {k[1]}" for k, r in rows.items() if not r["linear_converged"]]
row = ("| {preset} | {est} | {epochs} | {seed} | {c} | {f} | {y} | {rc} | {rf} | {ry} | {px} "
       "| {tw} s | {ips:.0f} | {n} |").format(
    preset=preset, est=est, epochs=epochs, seed=seed, c=pair("DIM", "conv"),
    f=pair("DIM", "fc"), y=pair("DIM", "Y"), rc=pair("random", "conv"),
    rf=pair("random", "fc"), ry=pair("random", "Y"), px=pair("pixels", "raw"),
    tw=twall, ips=ips,
    n=f"{ev['train_images']}/{ev['test_images']}, MLP lr {ev.get('mlp_lr', 1e-4):g} "
      f"≤{ev['mlp_epochs']} ep, epoch chosen on {ev.get('mlp_holdout', 0):g} held out"
      + (f"; baselines reused from runs/learning-baselines/{os.path.basename(bdir)}"
         if nobase else "")
      + (f"; linear NOT converged: {', '.join(notconv)}" if notconv else ""))
print(row)
md = "\n".join(f"| {r['model']} | {r['repr']} | {r['dim']} | {100 * r['linear']:.2f} | "
               f"{r['linear_l2']:g} | {r['linear_iters']} ({r['linear_stop']}) | "
               f"{100 * r['mlp']:.2f} | {r.get('mlp_best_epoch', '–')} of "
               f"{r.get('mlp_epochs_run', ev['mlp_epochs'])} | {100 * r['knn']:.2f} |"
               for r in ev["rows"])
open(f"{out}/eval.md", "w").write(
    "| model | repr | dim | linear | l2 | iterations (stop) | MLP | MLP epoch (of run) | k-NN |\n"
    "|---|---|---:|---:|---:|---|---:|---|---:|\n" + md + "\n")
print(f"eval: {ewall} s; full table in {out}/eval.md", file=sys.stderr)
if dry == "1":
    sys.exit(0)
text = open(bench).read()
head = "## Learning (issue 19)"
if head not in text:
    text = text.rstrip("\n") + "\n\n" + head + "\n\n" + (
        "`tools/bench/learning.sh -e E -s S [-E estimator] [-p preset]`: `cldim train` on "
        "Fashion-MNIST (60,000 images, batch 64, the default `basic28` encoder and D = 512), then "
        "`cldim eval` on the first N train images and all 10,000 test images. Cells are test "
        "accuracy, linear / MLP: the linear probe is L-BFGS to convergence with its L2 penalty "
        "chosen on 10% of the N train images; the MLP is the paper's 200-unit probe (Adam lr "
        "1e-3, x 0.1 after epochs 50 and 100, at most 100 epochs, the epoch chosen on the same "
        "held-out rows). Random = the same architecture at its initialisation "
        "(seed + 7919). Wall time and images/s are for training on a shared, loaded 2-core "
        "machine (not performance figures).\n\n"
        "| preset | estimator | epochs | seed | DIM conv | DIM fc | DIM Y | random conv "
        "| random fc | random Y | pixels | train wall | img/s | eval train/test |\n"
        "|---|---|---:|---:|---|---|---|---|---|---|---|---:|---:|---|\n")
lines = text.rstrip("\n").split("\n")
start = lines.index(head)
end = start + 1
while end < len(lines) and not lines[end].startswith("## "):
    end += 1
last = max(i for i in range(start, end) if lines[i].startswith("|"))
lines.insert(last + 1, row)
open(bench, "w").write("\n".join(lines) + "\n")
print(f"appended to {bench}", file=sys.stderr)
EOF
