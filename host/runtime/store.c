/* The per-device store (include/cldim/tuning.h): one text file per device +
 * driver in the cache directory with what `cldim bench` measured there. The
 * runtime reads it (the GEMM backend, the CLBlast tuning, `--device auto`);
 * the bench layer writes it through dim_device_store_update.
 *
 * Format (version 1, one field per line, '#' comments):
 *   cldim-device-store 1
 *   platform <platform name>          these three must match the device:
 *   device <device name>              a file that hashes alike but names
 *   driver <driver version>           another device is a miss
 *   gemm-backend own|clblast
 *   clblast default                   tuned, and CLBlast's defaults won
 *   clblast Xgemm GEMMK=0 KREG=1 ...  (all 16 names, any order)
 *   clblast XgemmDirect KWID=2 ...    (all 10 names)
 *   clblast GemmRoutine XGEMM_MIN_INDIRECT_SIZE=384
 *   speed train=123.4 extract=567.8 batch=64 time=2025-01-31T12:00:00Z
 *   end <FNV-1a of every byte before this line, 16 hex>
 * Sections that were never measured are absent. The last line makes a
 * truncated or edited file a miss rather than half a record. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldim/io.h"
#include "internal.h"

#define STORE_MAGIC "cldim-device-store"
#define STORE_VERSION 1
#define STORE_MAX_BYTES 65536

uint64_t dim_device_key(const dim_device_info *d)
{
	uint64_t h = dim_fnv1a(DIM_FNV_INIT, d->platform_name, strlen(d->platform_name));
	h = dim_fnv1a(h, "\n", 1);
	h = dim_fnv1a(h, d->name, strlen(d->name));
	h = dim_fnv1a(h, "\n", 1);
	return dim_fnv1a(h, d->driver, strlen(d->driver));
}

void dim_device_store_path(const char *dir, const dim_device_info *d, char *buf, size_t n)
{
	if (!dir || !*dir) {
		buf[0] = '\0';
		return;
	}
	snprintf(buf, n, "%s/device-%016llx.txt", dir, (unsigned long long)dim_device_key(d));
}

/* Parse "NAME=VALUE ..." into v by names; every name must appear once. */
static int parse_params(char *rest, const char *const *names, size_t *v, int n)
{
	unsigned seen = 0;
	char *save = NULL;
	for (char *tok = strtok_r(rest, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq)
			return -1;
		*eq = '\0';
		char *end;
		errno = 0;
		unsigned long long x = strtoull(eq + 1, &end, 10);
		if (errno || end == eq + 1 || *end || eq[1] == '-' || x > (1ull << 30))
			return -1;
		int i = 0;
		while (i < n && strcmp(names[i], tok))
			i++;
		if (i == n || (seen & (1u << i)))
			return -1;
		seen |= 1u << i;
		v[i] = (size_t)x;
	}
	return seen == (1u << n) - 1 ? 0 : -1;
}

static int parse_clblast(char *rest, dim_gemm_tuning *t)
{
	static const char *const rn[] = {"XGEMM_MIN_INDIRECT_SIZE"};
	char *sp = rest + strcspn(rest, " \t");
	char *args = *sp ? sp + 1 : sp;
	*sp = '\0';
	if (!strcmp(rest, "default"))
		return *args ? -1 : 0;
	if (!strcmp(rest, "Xgemm") && !t->has_xgemm) {
		t->has_xgemm = true;
		return parse_params(args, dim_xgemm_param_names, t->xgemm, DIM_XGEMM_NPARAMS);
	}
	if (!strcmp(rest, "XgemmDirect") && !t->has_direct) {
		t->has_direct = true;
		return parse_params(args, dim_xgemm_direct_param_names, t->direct,
				    DIM_XGEMM_DIRECT_NPARAMS);
	}
	if (!strcmp(rest, "GemmRoutine") && !t->has_routine) {
		t->has_routine = true;
		return parse_params(args, rn, &t->min_indirect_size, 1);
	}
	return -1;
}

static int parse_rate(const char *s, double lo, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !isfinite(v) || v < lo || v > 1e12)
		return -1;
	*out = v;
	return 0;
}

/* "train=123.4 extract=567.8 batch=64 time=..." */
static int parse_speed(char *rest, dim_device_record *r)
{
	unsigned seen = 0;
	char *save = NULL;
	for (char *tok = strtok_r(rest, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq)
			return -1;
		*eq++ = '\0';
		double b;
		if (!strcmp(tok, "train") && !(seen & 1) && !parse_rate(eq, 1e-9, &r->train_img_s))
			seen |= 1;
		else if (!strcmp(tok, "extract") && !(seen & 2) &&
			 !parse_rate(eq, 0, &r->extract_img_s))
			seen |= 2;
		else if (!strcmp(tok, "batch") && !(seen & 4) && !parse_rate(eq, 1, &b) &&
			 b == floor(b) && b < 1e9)
			seen |= 4, r->batch = (int)b;
		else if (!strcmp(tok, "time") && !(seen & 8) && strlen(eq) < sizeof r->time)
			seen |= 8, snprintf(r->time, sizeof r->time, "%s", eq);
		else
			return -1;
	}
	return seen == 15 ? 0 : -1;
}

/* text (NUL-terminated, len bytes) into r; NULL, or what is wrong. */
static const char *parse(char *text, size_t len, const dim_device_info *d, dim_device_record *r)
{
	/* the last line: "end <hex>\n" over everything before it */
	if (len < 2 || text[len - 1] != '\n')
		return "truncated (no end line)";
	text[len - 1] = '\0';
	char *last = strrchr(text, '\n');
	last = last ? last + 1 : text;
	char *end;
	if (strncmp(last, "end ", 4))
		return "truncated (no end line)";
	unsigned long long sum = strtoull(last + 4, &end, 16);
	if (*end || end - (last + 4) != 16)
		return "malformed end line";
	if (sum != dim_fnv1a(DIM_FNV_INIT, text, (size_t)(last - text)))
		return "checksum mismatch (damaged or edited)";
	if (last == text)
		return "empty";
	last[-1] = '\0';

	unsigned ids = 0;
	int lineno = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (++lineno == 1) {
			size_t m = strlen(STORE_MAGIC);
			if (strncmp(line, STORE_MAGIC " ", m + 1))
				return "not a cldim device record";
			if (atoi(line + m + 1) != STORE_VERSION || strspn(line + m + 1, "0123456789") !=
								       strlen(line + m + 1))
				return "another version of the device store";
			continue;
		}
		if (line[0] == '#')
			continue;
		char *sp = line + strcspn(line, " ");
		char *rest = *sp ? sp + 1 : sp;
		*sp = '\0';
		if (!strcmp(line, "platform") || !strcmp(line, "device") || !strcmp(line, "driver")) {
			const char *want = line[1] == 'l' ? d->platform_name
					   : line[1] == 'e' ? d->name : d->driver;
			if (strcmp(rest, want))
				return "written for another device or driver";
			ids |= line[1] == 'l' ? 1u : line[1] == 'e' ? 2u : 4u;
		} else if (!strcmp(line, "gemm-backend") && !r->gemm_backend) {
			if (!strcmp(rest, "own"))
				r->gemm_backend = DIM_GEMM_OWN;
			else if (!strcmp(rest, "clblast"))
				r->gemm_backend = DIM_GEMM_CLBLAST;
			else
				return "unknown gemm-backend";
		} else if (!strcmp(line, "clblast")) {
			if (parse_clblast(rest, &r->tuning))
				return "bad clblast line";
			r->has_tuning = true;
		} else if (!strcmp(line, "speed") && !r->has_speed) {
			if (parse_speed(rest, r))
				return "bad speed line";
			r->has_speed = true;
		} else {
			return "unknown line";
		}
	}
	return ids == 7 ? NULL : "platform, device or driver line missing";
}

/* 1: loaded; 0: no file (or no dir); -1: damaged (logged). */
static int load(const char *dir, const dim_device_info *d, dim_device_record *r)
{
	char path[1200];
	memset(r, 0, sizeof *r);
	dim_device_store_path(dir, d, path, sizeof path);
	if (!path[0])
		return 0;
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (errno == ENOENT || errno == ENOTDIR) /* no record (an unusable cache
							   * directory is said by the kernel cache) */
			return 0;
		dim_log(DIM_LOG_WARN, "%s: cannot read the device record: %s; ignored", path,
			strerror(errno));
		return -1;
	}
	char *text = malloc(STORE_MAX_BYTES + 1);
	size_t n = text ? fread(text, 1, STORE_MAX_BYTES + 1, f) : 0;
	int bad = !text || ferror(f);
	fclose(f);
	const char *why = bad ? "cannot read it" : n > STORE_MAX_BYTES ? "too large" : NULL;
	if (!why) {
		text[n] = '\0';
		why = memchr(text, '\0', n) ? "not text" : parse(text, n, d, r);
	}
	free(text);
	if (why) {
		memset(r, 0, sizeof *r);
		dim_log(DIM_LOG_WARN, "%s: device record ignored: %s (cldim bench writes a new one)",
			path, why);
		return -1;
	}
	return 1;
}

bool dim_device_store_load(const char *dir, const dim_device_info *d, dim_device_record *r)
{
	return load(dir, d, r) == 1;
}

#define PUT(...)                                                                           \
	do {                                                                               \
		if (used < sizeof buf)                                                     \
			used += (size_t)snprintf(buf + used, sizeof buf - used, __VA_ARGS__); \
	} while (0)

dim_status dim_device_store_update(const char *dir, const dim_device_info *d, unsigned what,
				   const dim_device_record *r, dim_error *err)
{
	char path[1200], buf[8192];
	size_t used = 0;
	dim_device_record m;
	dim_device_store_path(dir, d, path, sizeof path);
	if (!path[0])
		return dim_fail(err, DIM_ERR_IO, "device store: no cache directory");
	load(dir, d, &m);
	if (what & DIM_STORE_BACKEND)
		m.gemm_backend = r->gemm_backend;
	if (what & DIM_STORE_TUNING) {
		m.has_tuning = r->has_tuning;
		m.tuning = r->tuning;
	}
	if (what & DIM_STORE_SPEED) {
		m.has_speed = r->has_speed;
		m.train_img_s = r->train_img_s;
		m.extract_img_s = r->extract_img_s;
		m.batch = r->batch;
		memcpy(m.time, r->time, sizeof m.time);
		m.time[sizeof m.time - 1] = '\0';
	}
	if (m.has_speed && (!(m.train_img_s > 0) || !(m.extract_img_s >= 0) || m.batch < 1 ||
			    m.train_img_s > 1e12 || m.extract_img_s > 1e12 || !m.time[0] ||
			    strpbrk(m.time, " \t\n")))
		return dim_fail(err, DIM_ERR_ARG, "%s: bad speed record (%g, %g images/s, batch %d)",
				path, m.train_img_s, m.extract_img_s, m.batch);

	PUT("%s %d\n# what cldim bench measured on this device and driver; delete it to "
	    "measure afresh\nplatform %s\ndevice %s\ndriver %s\n",
	    STORE_MAGIC, STORE_VERSION, d->platform_name, d->name, d->driver);
	if (m.gemm_backend == DIM_GEMM_OWN || m.gemm_backend == DIM_GEMM_CLBLAST)
		PUT("gemm-backend %s\n", m.gemm_backend == DIM_GEMM_OWN ? "own" : "clblast");
	if (m.has_tuning) {
		const dim_gemm_tuning *t = &m.tuning;
		if (!t->has_xgemm && !t->has_direct && !t->has_routine)
			PUT("clblast default\n");
		if (t->has_xgemm) {
			PUT("clblast Xgemm");
			for (int i = 0; i < DIM_XGEMM_NPARAMS; i++)
				PUT(" %s=%zu", dim_xgemm_param_names[i], t->xgemm[i]);
			PUT("\n");
		}
		if (t->has_direct) {
			PUT("clblast XgemmDirect");
			for (int i = 0; i < DIM_XGEMM_DIRECT_NPARAMS; i++)
				PUT(" %s=%zu", dim_xgemm_direct_param_names[i], t->direct[i]);
			PUT("\n");
		}
		if (t->has_routine)
			PUT("clblast GemmRoutine XGEMM_MIN_INDIRECT_SIZE=%zu\n",
			    t->min_indirect_size);
	}
	if (m.has_speed)
		PUT("speed train=%.17g extract=%.17g batch=%d time=%s\n", m.train_img_s,
		    m.extract_img_s, m.batch, m.time);
	if (used + 22 >= sizeof buf)
		return dim_fail(err, DIM_ERR_ARG, "%s: device record too long", path);
	uint64_t sum = dim_fnv1a(DIM_FNV_INIT, buf, used);
	PUT("end %016llx\n", (unsigned long long)sum);

	char parent[1200];
	snprintf(parent, sizeof parent, "%s", path);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (dim_mkdir_p(parent))
			return dim_fail(err, DIM_ERR_IO, "%s: cannot create its directory: %s", path,
					strerror(errno));
	}
	dim_status st = dim_write_file_atomic(err, path, buf, used);
	return st ? dim_fail_prefix(err, "device store: ") : DIM_OK;
}
#undef PUT

int dim_device_store_best(const char *dir, const dim_device_info *list, int count,
			  int fallback_index)
{
	dim_device_record r;
	if (fallback_index < 0 || fallback_index >= count)
		return -1;
	if (!dim_device_store_load(dir, &list[fallback_index], &r) || !r.has_speed)
		return -1; /* the plain choice was never measured: keep it */
	int best = fallback_index;
	double best_v = r.train_img_s;
	for (int i = 0; i < count; i++)
		if (i != fallback_index && dim_device_store_load(dir, &list[i], &r) &&
		    r.has_speed && r.train_img_s > best_v) {
			best = i;
			best_v = r.train_img_s;
		}
	return best;
}
