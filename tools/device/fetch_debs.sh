#!/bin/sh
# Download (here, on a Debian 12 machine with network) the Debian packages the
# GPU machine lacks, into .gpudeps/ at the repository root (git-ignored via
# .git/info/exclude). tools/device/run_gpu.sh unpacks them there with dpkg -x.
# dataset-fashion-mnist (30 MB, data files only) lets the training tests run there.
#   tools/device/fetch_debs.sh      then call the device tool with carry [".gpudeps"]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$root/.gpudeps"
grep -qx '/.gpudeps/' "$root/.git/info/exclude" 2>/dev/null || echo '/.gpudeps/' >>"$root/.git/info/exclude"
cd "$root/.gpudeps"
apt-get download ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers opencl-clhpp-headers \
	libclblast1 libclblast-dev libturbojpeg0 libturbojpeg0-dev libjpeg62-turbo libjpeg62-turbo-dev zlib1g-dev \
	dataset-fashion-mnist
ls -l "$root/.gpudeps"
