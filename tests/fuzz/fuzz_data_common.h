/* Shared by the data fuzz targets: a private temp dir and a file writer. */
#ifndef FUZZ_DATA_COMMON_H
#define FUZZ_DATA_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fz_dir[256];

static const char *fz_path(const char *name)
{
	static char p[512];
	if (!fz_dir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(fz_dir, sizeof fz_dir, "%s/cldim-fuzz-XXXXXX", t ? t : "/tmp");
		if (!mkdtemp(fz_dir))
			return NULL;
	}
	snprintf(p, sizeof p, "%s/%s", fz_dir, name);
	return p;
}

static int fz_write(const char *name, const uint8_t *data, size_t n)
{
	const char *p = fz_path(name);
	FILE *f = p ? fopen(p, "wb") : NULL;
	if (!f)
		return -1;
	size_t w = fwrite(data, 1, n, f);
	return fclose(f) == 0 && w == n ? 0 : -1;
}

#endif
