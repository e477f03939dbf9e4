#!/usr/bin/env bash
# Run one program on Oclgrind's simulated GPU and fail on any diagnostic.
#
#   tests/oclgrind/run.sh [--expect KIND] PROGRAM [ARGS...]
#
# Oclgrind reports out-of-bounds reads and writes, data races, barrier
# divergence and OpenCL API misuse, but the program's exit code does not
# change when it does: a kernel that writes past its buffer still "passes".
# So this wrapper sends Oclgrind's messages to a log of their own (--log) and
# fails when that log holds anything at all; it prints the log and a count per
# kind. The program's own exit code is kept as well (77 stays "skipped").
#
# --expect KIND inverts the check for the stage's own test (a deliberately
# broken kernel): pass only when the program ran and Oclgrind reported at
# least one diagnostic of KIND (invalid-access, data-race), i.e. proof that
# the stage fails on it.
#
# Environment: OCLGRIND (the oclgrind binary, default from PATH),
# CLDIM_OCLGRIND_ARGS (extra Oclgrind options), CLDIM_OCLGRIND_RACES=0 (no
# race detection, for running a full-size model by hand: the detector keeps
# ~48 bytes of state per byte of every buffer, gigabytes for dcgan28's
# weights, gradients and Adam moments; the stage's whole-model tests use the
# test encoder tiny12 and keep it on). --uninitialized is
# left out on purpose: that plugin crashes Oclgrind 21.10 itself on some of
# our kernels.
set -u

expect=""
if [ "${1:-}" = "--expect" ]; then
	expect="${2:?--expect needs a kind: invalid-access or data-race}"
	shift 2
fi
if [ $# -lt 1 ]; then
	echo "usage: $0 [--expect KIND] PROGRAM [ARGS...]" >&2
	exit 2
fi
oclgrind="${OCLGRIND:-oclgrind}"
if ! command -v "$oclgrind" >/dev/null 2>&1; then
	echo "oclgrind not found (apt-get install oclgrind)" >&2
	exit 2
fi

log=$(mktemp "${TMPDIR:-/tmp}/cldim-oclgrind.XXXXXX")
trap 'rm -f "$log"' EXIT

# The GPU forms of the kernels and the CLBlast GEMM: what a GPU runs.
export CLDIM_VEC16="${CLDIM_VEC16:-0}" CLDIM_GEMM="${CLDIM_GEMM:-clblast}"
# Small shapes in the tests that have large ones (see tests/support/testutil.h).
export CLDIM_TEST_SMALL=1
# Small arena chunks: Oclgrind's race detector keeps ~48 bytes of state per
# byte of every buffer, used or not (64 MiB chunks cost 3 GiB each).
export CLDIM_ARENA_CHUNK="${CLDIM_ARENA_CHUNK:-262144}"
races=--data-races
[ "${CLDIM_OCLGRIND_RACES:-1}" = 0 ] && races=""
# shellcheck disable=SC2086 # CLDIM_OCLGRIND_ARGS is a list of options
"$oclgrind" $races --check-api --max-errors 16 --log "$log" \
	${CLDIM_OCLGRIND_ARGS:-} "$@"
rc=$?

count() { grep -c -E "$1" "$log"; }
n_access=$(count '^Invalid (read|write)')
n_race=$(count 'data race at')
n_barrier=$(count '(divergence|Barrier)')
n_api=$(count '(API error|runtime error|Oclgrind - )')
# Any line at all is a diagnostic; the kinds above are for the summary.
n_any=$(grep -c -v -E '^[[:space:]]*$' "$log")

if [ "$n_any" -gt 0 ]; then
	echo "---- Oclgrind diagnostics for $*"
	head -n 400 "$log"
	echo "---- invalid access: $n_access, data race: $n_race, barrier: $n_barrier," \
		"API: $n_api ($n_any log lines)"
fi

if [ -n "$expect" ]; then
	case "$expect" in
	invalid-access) n=$n_access ;;
	data-race) n=$n_race ;;
	*) echo "--expect $expect: unknown kind" >&2; exit 2 ;;
	esac
	if [ "$rc" -ne 0 ]; then
		echo "FAIL: $* exited $rc; it should run to the end" >&2
		exit 1
	fi
	if [ "$n" -eq 0 ]; then
		echo "FAIL: Oclgrind reported no $expect for $*: the stage would miss it" >&2
		exit 1
	fi
	echo "ok: Oclgrind reported $n $expect diagnostic(s), as it must"
	exit 0
fi

if [ "$rc" -eq 77 ]; then
	exit 77
fi
if [ "$n_any" -gt 0 ]; then
	echo "FAIL: Oclgrind diagnostics in $* (exit code $rc)" >&2
	exit 1
fi
exit "$rc"
