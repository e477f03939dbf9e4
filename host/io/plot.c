/* SVG line plots (see include/cldim/plot.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cldim/io.h"
#include "cldim/plot.h"

#define W 900
#define H 420
#define ML 70
#define MR 80
#define MT 40 /* title; the legend rows add to it, above the frame */
#define LEGEND_ROW 16
#define LEGEND_COL 165
#define MB 50

static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
				     "#8c564b", "#17becf", "#7f7f7f"};

static void range(const double *rows, size_t n, int ncols, int c0, int c1, double *lo, double *hi)
{
	*lo = INFINITY;
	*hi = -INFINITY;
	for (size_t i = 0; i < n; i++)
		for (int c = c0; c < c1; c++) {
			double v = rows[i * (size_t)ncols + (size_t)c];
			if (isfinite(v)) {
				*lo = fmin(*lo, v);
				*hi = fmax(*hi, v);
			}
		}
	if (!isfinite(*lo)) {
		*lo = 0;
		*hi = 1;
	}
	if (*hi - *lo < 1e-12) {
		*lo -= 0.5;
		*hi += 0.5;
	}
}

static int has_data(const double *rows, size_t n, int ncols, int c)
{
	for (size_t i = 0; i < n; i++)
		if (isfinite(rows[i * (size_t)ncols + (size_t)c]))
			return 1;
	return 0;
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else
			fputc(*s, f);
	}
}

dim_status dim_plot_svg(const char *path, const char *title, const double *rows, size_t n,
			int ncols, const char *const *names, int nleft, dim_error *err)
{
	dim_atomic_file *af;
	dim_status st = dim_atomic_open(err, path, &af);
	if (st)
		return st;
	FILE *f = dim_atomic_stream(af);
	double x0, x1, l0, l1, r0, r1;
	range(rows, n, ncols, 0, 1, &x0, &x1);
	range(rows, n, ncols, 1, 1 + nleft, &l0, &l1);
	range(rows, n, ncols, 1 + nleft, ncols, &r0, &r1);
	/* the legend: series with data only, in rows above the frame */
	int shown = 0, right = 0, per_row = (W - ML) / LEGEND_COL;
	for (int c = 1; c < ncols; c++)
		if (has_data(rows, n, ncols, c)) {
			shown++;
			right |= c > nleft;
		}
	int mt = MT + LEGEND_ROW * ((shown + per_row - 1) / per_row), h = H + mt - MT;
	double pw = W - ML - MR, ph = H - MT - MB;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		   "font-family=\"sans-serif\" font-size=\"12\">\n"
		   "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, h);
	fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"15\">", ML);
	xml_text(f, title);
	fprintf(f, "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
		   "stroke=\"#888\"/>\n", ML, mt, pw, ph);
	for (int k = 0; k <= 4; k++) { /* ticks: left, right, bottom */
		double fy = mt + ph * k / 4.0, fx = ML + pw * k / 4.0;
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", ML - 6,
			fy + 4, l1 - (l1 - l0) * k / 4.0);
		if (right)
			fprintf(f, "<text x=\"%.0f\" y=\"%.1f\">%.4g</text>\n", ML + pw + 6, fy + 4,
				r1 - (r1 - r0) * k / 4.0);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.6g</text>\n", fx,
			h - MB + 18, x0 + (x1 - x0) * k / 4.0);
	}
	fprintf(f, "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">step</text>\n", ML + pw / 2,
		h - 12);
	int k = 0;
	for (int c = 1; c < ncols; c++) {
		if (!has_data(rows, n, ncols, c))
			continue;
		int left = c <= nleft;
		double lo = left ? l0 : r0, hi = left ? l1 : r1;
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"",
			colors[(c - 1) % 8], left ? "" : " stroke-dasharray=\"4 3\"");
		for (size_t i = 0; i < n; i++) {
			double x = rows[i * (size_t)ncols], y = rows[i * (size_t)ncols + (size_t)c];
			if (!isfinite(x) || !isfinite(y))
				continue;
			fprintf(f, "%.1f,%.1f ", ML + pw * (x - x0) / (x1 - x0),
				mt + ph * (1 - (y - lo) / (hi - lo)));
		}
		fprintf(f, "\"/>\n<text x=\"%d\" y=\"%d\" fill=\"%s\">",
			ML + LEGEND_COL * (k % per_row), MT + LEGEND_ROW * (k / per_row) - 4,
			colors[(c - 1) % 8]);
		xml_text(f, names[c - 1]);
		fprintf(f, "%s</text>\n", left ? "" : " (right axis)");
		k++;
	}
	fprintf(f, "</svg>\n");
	return dim_atomic_commit(err, af);
}
