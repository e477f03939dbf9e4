#!/bin/bash
# One call on the GPU machine (the `device` tool's run, carry [".gpudeps"]):
#   bash tools/device/run_gpu.sh [STAGES]
# STAGES (default "tests step compare bench"; also "profile", "peak", "tune"; CTEST_ARGS adds ctest
# arguments, e.g. -I 20,39): what to run after the build.
# 1. unpack the carried Debian packages (OpenCL ICD loader + headers, CLBlast,
#    TurboJPEG, zlib headers) into /tmp/deps with dpkg -x (never into /), and
#    rewrite the absolute /usr paths in their CMake and pkg-config files to /tmp/deps;
# 2. write an ICD file naming NVIDIA's libnvidia-opencl.so.1 by its absolute path
#    (searched for in the driver's folders) and point the loader at it (OCL_ICD_VENDORS);
# 3. build (Release), list devices;
# 4. the stages, each under its own time limit so that one call stays inside the
#    device budget: tests on the GPU (CLDIM_DEVICE=gpu, ctest -LE 'mpi|fuzz'), the
#    DIM(L) step with untuned CLBlast, the side by side against PyTorch CUDA with TF32
#    off and on (tools/bench/compare.sh), the full `cldim bench`, a short --tune.
# Everything lands in $OUT (logs and results); the summary goes to stdout.
# DRY_RUN=1 does steps 1 and 3 on any machine with the loader's default ICDs (no GPU
# needed) and stops.
set -u
OUT=${OUT:-/tmp/cldim-gpu-out}
mkdir -p "$OUT"
root=$(cd "$(dirname "$0")/../.." && pwd)
deps=/tmp/deps
stages=${1:-tests step compare bench}
t0=$(date +%s)
log() { echo "run_gpu [$(($(date +%s) - t0))s]: $*" | tee -a "$OUT/run_gpu.log" >&2; }
has() { case " $stages " in *" $1 "*) return 0 ;; esac; return 1; }

ls "$root"/.gpudeps/*.deb >/dev/null 2>&1 || { log "no .gpudeps/*.deb: run tools/device/fetch_debs.sh here first and carry .gpudeps"; exit 2; }
rm -rf "$deps"; mkdir -p "$deps"
for f in "$root"/.gpudeps/*.deb; do dpkg -x "$f" "$deps"; done
lib=$deps/usr/lib/x86_64-linux-gnu
# the -dev packages' .so links may be absolute: recreate them relative
for so in libOpenCL libclblast libturbojpeg libz; do
	real=$(ls "$lib/$so".so.* 2>/dev/null | head -1)
	[ -n "$real" ] && ln -sf "$(basename "$real")" "$lib/$so.so"
done
# CMake configs and .pc files name /usr/lib/x86_64-linux-gnu and /usr/include: point them here
grep -rlE '/usr/(lib|include)' "$lib/cmake" "$lib/pkgconfig" "$deps/usr/share/pkgconfig" 2>/dev/null |
	xargs -r sed -i -e "s#\([\" =]\)/usr/lib/x86_64-linux-gnu#\1$lib#g" \
		-e "s#\([\" ;=]\)/usr/include#\1$deps/usr/include#g" -e "s#^prefix=/usr\$#prefix=$deps/usr#" \
		-e "s#\"/usr\"#\"$deps/usr\"#g"
export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# the training tests read Fashion-MNIST at its Debian path: link it there (data files only)
fm=$deps/usr/share/datasets/fashion-mnist
if [ -d "$fm" ] && [ ! -e /usr/share/datasets/fashion-mnist ] && [ "${DRY_RUN:-0}" != 1 ]; then
	mkdir -p /usr/share/datasets && ln -s "$fm" /usr/share/datasets/fashion-mnist
fi
export PKG_CONFIG_PATH=$lib/pkgconfig:$deps/usr/share/pkgconfig
if [ "${DRY_RUN:-0}" != 1 ]; then
	nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
	icdlib=""
	for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/cuda/lib64 /usr/lib; do
		[ -e "$d/libnvidia-opencl.so.1" ] && { icdlib=$d/libnvidia-opencl.so.1; break; }
	done
	[ -n "$icdlib" ] || icdlib=$(find / -xdev -name 'libnvidia-opencl.so*' 2>/dev/null | head -1)
	if [ -z "$icdlib" ]; then
		log "NVIDIA's OpenCL driver (libnvidia-opencl.so.1) is not on this machine"
		ls /etc/OpenCL/vendors /usr/local/nvidia/lib64 2>&1 | head -40
		exit 3
	fi
	log "NVIDIA OpenCL ICD: $icdlib"
	mkdir -p "$deps/vendors"
	echo "$icdlib" >"$deps/vendors/nvidia.icd"
	export OCL_ICD_VENDORS=$deps/vendors
fi
export CLDIM_CACHE_DIR=/tmp/cldim-cache
py=$(command -v python3)

log "tools: $(cc --version | head -1); $(cmake --version | head -1); python3 $py"
log "configure + build"
cmake -S "$root" -B /tmp/build-gpu -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_PREFIX_PATH="$deps/usr;$lib/cmake" -DCMAKE_INCLUDE_PATH="$deps/usr/include" \
	-DCMAKE_LIBRARY_PATH="$lib" -DCLDIM_TORCH_PYTHON="$py" >"$OUT/build.log" 2>&1 &&
	cmake --build /tmp/build-gpu -j"${JOBS:-16}" >>"$OUT/build.log" 2>&1 || { log "build failed (see build.log)"; tail -40 "$OUT/build.log"; exit 1; }
cli=/tmp/build-gpu/cldim
"$cli" devices >"$OUT/devices.txt" 2>&1
cat "$OUT/devices.txt"
[ "${DRY_RUN:-0}" = 1 ] && { log "dry run: built and listed devices; stopping"; exit 0; }
"$py" -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))' 2>&1 | tee "$OUT/torch.txt"

if has tests; then
	log "tests on the GPU"
	CLDIM_DEVICE=gpu timeout "${T_TESTS:-200}" ctest --test-dir /tmp/build-gpu -j8 --timeout 120 \
		-LE 'mpi|fuzz' ${CTEST_ARGS:-} --output-on-failure >"$OUT/ctest.log" 2>&1
	log "ctest exit $? ($(grep -E 'tests passed|tests failed' "$OUT/ctest.log"))"
	grep -E '^\s+[0-9]+ - |\*\*\*|Failed|Skipped' "$OUT/ctest.log" | head -40
fi
if has profile; then
	# per-kernel device time of real training steps (random CIFAR-10-format images)
	"$py" -c 'import os,sys; n=20000; b=bytearray(os.urandom(n*3073))
for i in range(n): b[i*3073]%=10
open(sys.argv[1],"wb").write(b)' /tmp/c10.bin
	for b in 64 256; do
		log "profile: cldim train --batch $b --steps 30 --profile"
		timeout 90 "$cli" train --device gpu --data /tmp/c10.bin --batch $b --steps 30 --profile \
			--out /tmp/prof$b >"$OUT/profile_b$b.txt" 2>&1
		log "profile b$b exit $?"; grep -v '^step\|trace' "$OUT/profile_b$b.txt" | tail -45
	done
fi
if has peak; then
	timeout 30 "$cli" bench --device gpu --peak-only --no-record -o md >"$OUT/peak.md" 2>&1
	log "peak exit $?"; cat "$OUT/peak.md"
fi
if has step; then
	log "DIM(L) step, batch 64 and 256, CLBlast untuned"
	for b in 64 256; do
		CLDIM_GEMM_TUNING=0 timeout 60 "$cli" bench --device gpu --step-only --no-record --batch $b \
			-o md >"$OUT/step_b$b.md" 2>"$OUT/step_b$b.err"
		log "step b$b exit $?"; cat "$OUT/step_b$b.md"
	done
fi
if has compare; then
	for tf in 0 1; do
		log "PyTorch CUDA comparison, TF32 $tf"
		CLDIM=$cli PYTHON=$py timeout 90 "$root/tools/bench/compare.sh" --device gpu --torch-device cuda \
			--tf32 $tf --batches "64 256" --reps 5 >"$OUT/compare_cuda_tf32_$tf.md" 2>"$OUT/compare_cuda_tf32_$tf.err"
		log "compare exit $?"; cat "$OUT/compare_cuda_tf32_$tf.md"
	done
fi
if has bench; then
	log "full bench (default CLBlast parameters)"
	CLDIM_GEMM_TUNING=0 timeout "${T_BENCH:-120}" "$cli" bench --device gpu --no-record -o md >"$OUT/bench_gpu.md" 2>"$OUT/bench_gpu.err"
	log "bench exit $?"; cat "$OUT/bench_gpu.md"
fi
if has tune; then
	log "tune"
	timeout 100 "$cli" bench --device gpu --tune --tune-seconds 60 --tune-batch 64 -o md >"$OUT/tune_gpu.md" 2>"$OUT/tune_gpu.err"
	log "tune exit $?"
	timeout 60 "$cli" bench --device gpu --step-only -o md >"$OUT/step_tuned.md" 2>"$OUT/step_tuned.err"
	log "tuned step exit $?"; cat "$OUT/step_tuned.md"
fi
log "done"
