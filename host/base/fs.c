/* Filesystem helpers (include/cldim/base.h). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "cldim/base.h"

static int make_one(const char *dir)
{
	struct stat sb;
	if (mkdir(dir, 0755) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (stat(dir, &sb) != 0)
		return -1;
	if (!S_ISDIR(sb.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

int dim_mkdir_p(const char *dir)
{
	char tmp[4096];
	size_t n = strlen(dir);
	if (n == 0) {
		errno = ENOENT;
		return -1;
	}
	if (n >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, dir, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/' || p[-1] == '/')
			continue;
		*p = '\0';
		int rc = make_one(tmp);
		*p = '/';
		if (rc)
			return -1;
	}
	return make_one(tmp);
}
