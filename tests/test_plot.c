/* cldim-test: labels=unit timeout=60 */
/* metrics.svg (dim_plot_svg): a series without data is neither drawn nor in
 * the legend; the legend sits above the frame, so no legend text overlaps the
 * curves; the right axis appears only when a right-axis series has data. */
#include <math.h>
#include <string.h>

#include "cldim/io.h"
#include "cldim/plot.h"
#include "testutil.h"

static char svg[1 << 16];

static void plot(const char *path, const double *rows, size_t n, int ncols,
		 const char *const *names, int nleft)
{
	dim_error err = {0};
	CHECK_OK_ERR(&err, dim_plot_svg(path, "t", rows, n, ncols, names, nleft, &err));
	FILE *f = fopen(path, "r");
	size_t got = f ? fread(svg, 1, sizeof svg - 1, f) : 0;
	svg[got] = '\0';
	if (f)
		fclose(f);
}

/* y of the plot frame (the second rect) and the largest y of a legend text
 * (texts with a fill colour). */
static void geometry(double *frame_top, double *legend_bottom, int *legends)
{
	const char *r = strstr(svg, "<rect x=");
	*frame_top = -1;
	if (r && (r = strstr(r, "y=\"")))
		*frame_top = atof(r + 3);
	*legend_bottom = -1;
	*legends = 0;
	for (const char *t = svg; (t = strstr(t, "<text x=")); t++) {
		const char *end = strchr(t, '>'), *fill = strstr(t, "fill=");
		if (!end || !fill || fill > end)
			continue;
		const char *y = strstr(t, "y=\"");
		double v = y ? atof(y + 3) : 1e9;
		*legend_bottom = fmax(*legend_bottom, v);
		(*legends)++;
	}
}

int main(void)
{
	char *dir = t_tmpdir("plot");
	char path[1024];
	snprintf(path, sizeof path, "%s/m.svg", dir);
	enum { N = 20, C = 8 };
	double rows[N * C];
	for (int i = 0; i < N; i++) {
		double *r = rows + i * C;
		r[0] = i + 1;
		r[1] = 1.0 / (i + 1);  /* local loss */
		r[2] = NAN;            /* global: absent */
		r[3] = NAN;            /* prior: absent */
		r[4] = NAN;
		r[5] = -r[1];          /* MI bound */
		r[6] = NAN;
		r[7] = i ? 100.0 + i : NAN; /* images/s, none at step 1 */
	}
	const char *names[] = {"local MI loss", "global MI loss", "prior (encoder)",
			       "prior (discriminator)", "local MI bound", "global MI bound",
			       "images/s"};
	plot(path, rows, N, C, names, 6);
	double top, bottom;
	int legends;
	geometry(&top, &bottom, &legends);
	CHECK_MSG(strstr(svg, "local MI loss") && strstr(svg, "local MI bound") &&
			  strstr(svg, "images/s (right axis)"), "%s", svg);
	CHECK_MSG(!strstr(svg, "global") && !strstr(svg, "prior"), "absent series listed:\n%s",
		  svg);
	CHECK_MSG(legends == 3 && top > 0 && bottom < top, "%d legend entries, lowest at y %g, "
		  "frame top %g", legends, bottom, top);
	int polylines = 0;
	for (const char *p = svg; (p = strstr(p, "<polyline")); p++)
		polylines++;
	CHECK(polylines == 3);

	/* every series present: two legend rows, still above the frame */
	for (int i = 0; i < N; i++)
		for (int c = 1; c < C; c++)
			rows[i * C + c] = c * 0.1 + i;
	plot(path, rows, N, C, names, 6);
	geometry(&top, &bottom, &legends);
	CHECK_MSG(legends == 7 && bottom < top, "%d legends, lowest %g, frame %g", legends, bottom,
		  top);
	/* no right-axis series with data: no right ticks */
	for (int i = 0; i < N; i++)
		rows[i * C + 7] = NAN;
	plot(path, rows, N, C, names, 6);
	CHECK(!strstr(svg, "right axis"));
	if (!t_failures)
		t_rmtree(dir);
	free(dir);
	return T_RESULT();
}
