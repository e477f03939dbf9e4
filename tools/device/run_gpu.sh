#!/bin/bash
# One call on the GPU machine (the `device` tool's run, carry [".gpudeps"]):
#   bash tools/device/run_gpu.sh
# 1. unpack the carried Debian packages (OpenCL ICD loader + headers, CLBlast,
#    TurboJPEG) into /tmp/deps with dpkg -x (never into /);
# 2. write an ICD file for NVIDIA's libnvidia-opencl.so.1 and point the loader
#    at it (OCL_ICD_VENDORS);
# 3. build, run the test suite on the GPU (CLDIM_DEVICE=gpu);
# 4. cldim bench on the GPU (json + md), a short --tune, the bench again with
#    the tuning, and the PyTorch CUDA comparison (tools/bench/compare.sh).
# Everything lands in $OUT (logs and results). DRY_RUN=1 does steps 1-3 on
# any machine with the loader's default ICDs (no GPU needed) and stops.
set -u
OUT=${OUT:-/tmp/cldim-gpu-out}
mkdir -p "$OUT"
root=$(cd "$(dirname "$0")/../.." && pwd)
deps=/tmp/deps
log() { echo "run_gpu: $*" | tee -a "$OUT/run_gpu.log" >&2; }

ls "$root"/.gpudeps/*.deb >/dev/null 2>&1 || { log "no .gpudeps/*.deb: run tools/device/fetch_debs.sh here first and carry .gpudeps"; exit 2; }
mkdir -p "$deps"
for f in "$root"/.gpudeps/*.deb; do dpkg -x "$f" "$deps"; done
lib=$deps/usr/lib/x86_64-linux-gnu
# the -dev packages' .so links are absolute or relative to /usr: recreate them
for so in libOpenCL libclblast libturbojpeg; do
	real=$(ls "$lib/$so".so.* 2>/dev/null | head -1)
	[ -n "$real" ] && ln -sf "$(basename "$real")" "$lib/$so.so"
done
export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if [ "${DRY_RUN:-0}" != 1 ]; then
	mkdir -p "$deps/vendors"
	echo libnvidia-opencl.so.1 >"$deps/vendors/nvidia.icd"
	export OCL_ICD_VENDORS=$deps/vendors
	nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
fi
export POCL_CACHE_DIR=/tmp/pocl-cache CLDIM_CACHE_DIR=/tmp/cldim-cache

log "configure + build"
cmake -S "$root" -B /tmp/build-gpu -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_PREFIX_PATH="$deps/usr" -DCMAKE_INCLUDE_PATH="$deps/usr/include" \
	-DCMAKE_LIBRARY_PATH="$lib" >"$OUT/build.log" 2>&1 &&
	cmake --build /tmp/build-gpu -j"${JOBS:-16}" >>"$OUT/build.log" 2>&1 || { log "build failed (see build.log)"; tail -30 "$OUT/build.log"; exit 1; }
cli=/tmp/build-gpu/cldim
"$cli" devices >"$OUT/devices.txt" 2>&1
cat "$OUT/devices.txt"
[ "${DRY_RUN:-0}" = 1 ] && { log "dry run: built and listed devices; stopping"; exit 0; }

log "tests on the GPU"
CLDIM_DEVICE=gpu timeout 240 ctest --test-dir /tmp/build-gpu -j8 --output-on-failure >"$OUT/ctest.log" 2>&1
log "ctest exit $? ($(grep -E 'tests passed|tests failed' "$OUT/ctest.log"))"

log "bench (default CLBlast parameters)"
CLDIM_GEMM_TUNING=0 timeout 150 "$cli" bench --device gpu --no-record -o json >"$OUT/bench_gpu.json" 2>"$OUT/bench_gpu.err"
log "tune"
timeout 100 "$cli" bench --device gpu --tune --tune-seconds 60 --tune-batch 64 -o md >"$OUT/tune_gpu.md" 2>"$OUT/tune_gpu.err"
log "bench (tuned)"
timeout 150 "$cli" bench --device gpu -o md >"$OUT/bench_gpu_tuned.md" 2>"$OUT/bench_gpu_tuned.err"
log "PyTorch CUDA comparison"
CLDIM=$cli PYTHON=python3 timeout 120 "$root/tools/bench/compare.sh" --device gpu --torch-device cuda \
	--reps 5 >"$OUT/compare_cuda.md" 2>"$OUT/compare_cuda.err"
cat "$OUT/compare_cuda.md"
log "done"
