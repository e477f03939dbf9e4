/* cldim — a small SVG line plot for training curves (metrics.svg). */
#ifndef CLDIM_PLOT_H
#define CLDIM_PLOT_H

#include <stddef.h>

#include "cldim/status.h"

/* rows: n rows of ncols doubles; column 0 is x, columns 1.. are series named
 * names[0..ncols-2]. Series 1..nleft share the left axis, the rest the right
 * axis (e.g. throughput). Non-finite values are skipped; a series without
 * any finite value is left out, legend included. The legend sits above the
 * frame, never over the curves. Written atomically. */
dim_status dim_plot_svg(const char *path, const char *title, const double *rows, size_t n,
			int ncols, const char *const *names, int nleft, dim_error *err);

#endif
