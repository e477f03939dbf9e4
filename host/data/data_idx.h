/* Private: the IDX parser, exposed for the fuzz target. */
#ifndef CLDIM_DATA_IDX_H
#define CLDIM_DATA_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "cldim/status.h"

#define DD_IDX_MAX_DIMS 4

typedef struct dd_idx {
	int nd;
	uint32_t dims[DD_IDX_MAX_DIMS];
	size_t header;      /* bytes before the data */
	size_t data_bytes;  /* product of dims (u8 elements) */
	const uint8_t *data;
} dd_idx;

/* Validate the header only (len may be short of the data). */
dim_status dd_idx_header(const uint8_t *buf, size_t len, const char *name, dd_idx *out,
			 dim_error *err);
/* Validate a whole in-memory IDX file: header and exact data size. */
dim_status dd_idx_parse(const uint8_t *buf, size_t len, const char *name, dd_idx *out,
			dim_error *err);
/* Read a plain or gzip file whole (bounded by the size its header declares). */
dim_status dd_idx_load(const char *path, uint8_t **bytes, size_t *len, dim_error *err);

#endif
