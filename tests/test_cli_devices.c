/* cldim-test: labels=opencl;cli timeout=60 */
/* `cldim devices` end to end: the listing, --json, --device in each form, and
 * the failure modes with their exit codes: no ICD (simulated with
 * OCL_ICD_VENDORS pointing at an empty directory), no match, bad usage. */
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

int main(void)
{
	const char *cli = getenv("CLDIM_CLI");
	if (!cli) {
		fprintf(stderr, "skipped: CLDIM_CLI not set\n");
		return 77;
	}
	char cmd[1024], out[65536];
	snprintf(cmd, sizeof cmd, "'%s' devices", cli);
	int rc = t_run(cmd, out, sizeof out);
	if (rc == 3) {
		fprintf(stderr, "skipped: no OpenCL platform here\n%s", out);
		return 77;
	}
	CHECK_MSG(rc == 0, "%s -> %d\n%s", cmd, rc, out);
	CHECK(strstr(out, "[0] 0:0") && strstr(out, "compute") && strstr(out, "memory") &&
	      strstr(out, "fp64") && strstr(out, "default device"));

	snprintf(cmd, sizeof cmd, "'%s' devices --json", cli);
	CHECK(t_run(cmd, out, sizeof out) == 0);
	CHECK(out[0] == '[' && strstr(out, "\"id\": \"0:0\"") && strstr(out, "\"max_alloc_bytes\""));

	static const char *const good[] = {"0", "0:0", "auto", "cpu"};
	for (int i = 0; i < 4; i++) {
		snprintf(cmd, sizeof cmd, "'%s' devices --device %s", cli, good[i]);
		rc = t_run(cmd, out, sizeof out);
		/* "cpu" is only valid where a CPU device exists, as with PoCL here */
		CHECK_MSG(rc == 0 || (i == 3 && rc == 4), "%s -> %d\n%s", cmd, rc, out);
	}
	snprintf(cmd, sizeof cmd, "CLDIM_DEVICE=0:0 '%s' devices", cli);
	CHECK(t_run(cmd, out, sizeof out) == 0 && strstr(out, "from CLDIM_DEVICE"));

	snprintf(cmd, sizeof cmd, "'%s' devices --device no-such-device", cli);
	rc = t_run(cmd, out, sizeof out);
	CHECK_MSG(rc == 4 && strstr(out, "matches no device") && strstr(out, "available devices") &&
			  strstr(out, "--device no-such-device matches") &&
			  !strstr(out, "device selector"),
		  "rc %d: %s", rc, out);
	snprintf(cmd, sizeof cmd, "'%s' devices --device 42", cli);
	CHECK(t_run(cmd, out, sizeof out) == 4);

	char *empty = t_tmpdir("noicd");
	snprintf(cmd, sizeof cmd, "OCL_ICD_VENDORS='%s' '%s' devices", empty, cli);
	rc = t_run(cmd, out, sizeof out);
	CHECK_MSG(rc == 3 && strstr(out, "no OpenCL platform") && strstr(out, "pocl-opencl-icd"),
		  "rc %d: %s", rc, out);
	t_rmtree(empty);
	free(empty);

	snprintf(cmd, sizeof cmd, "'%s' devices --bogus", cli);
	CHECK(t_run(cmd, out, sizeof out) == 2);
	snprintf(cmd, sizeof cmd, "'%s' frobnicate", cli);
	CHECK(t_run(cmd, out, sizeof out) == 2 && strstr(out, "unknown command"));
	snprintf(cmd, sizeof cmd, "'%s' --help", cli);
	CHECK(t_run(cmd, out, sizeof out) == 0 && strstr(out, "devices"));
	return T_RESULT();
}
