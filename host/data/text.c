/* Small helpers for the readers: whole-file text, line and field splitting,
 * string lists, paths. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_internal.h"

dim_status dd_read_text(const char *path, size_t max, char **out, size_t *len, dim_error *err)
{
	dim_status st = DIM_OK;
	struct stat sb;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return dim_fail(err, DIM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		st = dim_fail(err, DIM_ERR_IO, "%s: not a regular file", path);
		goto out_close;
	}
	if ((unsigned long long)sb.st_size > max) {
		st = dim_fail(err, DIM_ERR_FORMAT, "%s: %lld bytes, more than the %zu expected",
			      path, (long long)sb.st_size, max);
		goto out_close;
	}
	size_t n = (size_t)sb.st_size, got = 0;
	char *buf = malloc(n + 1);
	if (!buf) {
		st = dim_fail(err, DIM_ERR_NOMEM, "%s: out of memory", path);
		goto out_close;
	}
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			st = dim_fail(err, DIM_ERR_IO, "%s: read failed: %s", path,
				      r < 0 ? strerror(errno) : "file shrank");
			free(buf);
			goto out_close;
		}
		got += (size_t)r;
	}
	buf[n] = 0;
	*out = buf;
	if (len)
		*len = n;
out_close:
	close(fd);
	return st;
}

char *dd_next_line(char **cur)
{
	char *s = *cur;
	if (!s || !*s)
		return NULL;
	char *e = strchr(s, '\n');
	if (e) {
		*e = 0;
		*cur = e + 1;
	} else {
		*cur = s + strlen(s);
	}
	size_t n = strlen(s);
	if (n && s[n - 1] == '\r')
		s[n - 1] = 0;
	return s;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

char *dd_next_field(char **cur)
{
	char *s = *cur;
	while (*s && is_space(*s))
		s++;
	if (!*s) {
		*cur = s;
		return NULL;
	}
	char *e = s;
	while (*e && !is_space(*e))
		e++;
	if (*e)
		*e++ = 0;
	*cur = e;
	return s;
}

char *dd_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

char *dd_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);
	if (!p)
		return NULL;
	memcpy(p, dir, a);
	size_t k = a;
	if (a && dir[a - 1] != '/')
		p[k++] = '/';
	memcpy(p + k, name, b + 1);
	return p;
}

int dd_is_dir(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int dd_is_file(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

long long dd_file_size(const char *path)
{
	struct stat sb;
	if (stat(path, &sb) != 0)
		return -1;
	return (long long)sb.st_size;
}

int dd_parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return 0;
	*out = v;
	return 1;
}

dim_status dd_strlist_push(dd_strlist *l, char *owned, dim_error *err)
{
	if (!owned)
		return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			free(owned);
			return dim_fail(err, DIM_ERR_NOMEM, "out of memory");
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = owned;
	return DIM_OK;
}

dim_status dd_strlist_push_copy(dd_strlist *l, const char *s, dim_error *err)
{
	return dd_strlist_push(l, dd_strdup(s), err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void dd_strlist_sort(dd_strlist *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof *l->v, cmp_str);
}

long dd_strlist_find(const dd_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return (long)i;
	return -1;
}

void dd_strlist_free(dd_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

dim_status dd_load_names(const char *path, dd_strlist *l, dim_error *err)
{
	char *text, *cur, *line;
	dim_status st = dd_read_text(path, 16u << 20, &text, NULL, err);
	if (st)
		return st;
	cur = text;
	while ((line = dd_next_line(&cur))) {
		while (is_space(*line))
			line++;
		size_t n = strlen(line);
		while (n && is_space(line[n - 1]))
			line[--n] = 0;
		if (!n)
			continue;
		st = dd_strlist_push_copy(l, line, err);
		if (st)
			break;
	}
	free(text);
	return st;
}
