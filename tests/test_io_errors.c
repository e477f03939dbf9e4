/* cldim-test: labels=unit timeout=60 */
/* A write that fails says why (issue 16, item 15: a full disk gave "write
 * failed" without the reason): a checkpoint-sized safetensors file over the
 * file-size limit (RLIMIT_FSIZE, the same path as ENOSPC: fwrite fails, then
 * the commit reports it) and JSON to /dev/full both carry strerror's text;
 * the old file stays and no temporary is left. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>

#include "cldim/io.h"
#include "testutil.h"

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

int main(void)
{
	char *dir = t_tmpdir("ioerr");
	char path[1024];
	snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
	enum { N = 64 * 1024 };
	float *x = calloc(N, sizeof *x);
	int64_t shape[1] = {N};
	dim_st_tensor t = {.name = "w", .dtype = DIM_DT_F32, .ndim = 1, .shape = shape, .data = x};
	dim_error err = {0};
	CHECK_OK_ERR(&err, dim_st_write(&err, path, &t, 1, NULL, 0));
	CHECK(count_entries(dir) == 1);

	/* files over 64 KiB fail with EFBIG (SIGXFSZ ignored) */
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 64 * 1024;
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
		dim_error_clear(&err);
		x[0] = 1;
		dim_status st = dim_st_write(&err, path, &t, 1, NULL, 0);
		setrlimit(RLIMIT_FSIZE, &old);
		CHECK_MSG(st == DIM_ERR_IO && strstr(err.msg, "write failed: ") &&
				  strstr(err.msg, strerror(EFBIG)), "status %d: %s", st, err.msg);
		CHECK(count_entries(dir) == 1); /* no temporary left */
		dim_st_file *f = NULL;
		CHECK_OK_ERR(&err, dim_st_load(&err, path, &f)); /* the old one is intact */
		if (f)
			CHECK(((const float *)dim_st_at(f, 0)->data)[0] == 0);
		dim_st_close(f);
	} else {
		fprintf(stderr, "setrlimit failed: file-size part skipped\n");
	}

	/* JSON to a full device */
	FILE *full = fopen("/dev/full", "w");
	if (full) {
		dim_json j;
		dim_json_init(&j, full, 0);
		dim_json_begin_object(&j);
		dim_json_kv_string(&j, "k", "v");
		dim_json_end_object(&j);
		dim_error_clear(&err);
		CHECK(dim_json_finish(&err, &j, "out.json") == DIM_ERR_IO);
		CHECK_MSG(strstr(err.msg, "out.json: write failed: ") &&
				  strstr(err.msg, strerror(ENOSPC)), "%s", err.msg);
		fclose(full);
	}
	free(x);
	if (!t_failures)
		t_rmtree(dir);
	free(dir);
	return T_RESULT();
}
