/* cldim — a flat C API for callers through a foreign-function interface
 * (the Python package python/cldim uses it with ctypes): opaque handles,
 * plain C types, status codes as int (dim_status values, 0 = success) and the
 * message of the last failure kept in the handle.
 *
 *   cldim_encoder *e;
 *   if (cldim_encoder_open("enc.safetensors", "auto", &e))
 *           fprintf(stderr, "%s\n", cldim_encoder_error(e));  // e is set even then
 *   ...
 *   cldim_encoder_close(e);
 *
 * Representations ("layers") are named as in `cldim extract --repr`: "conv",
 * "fc", "Y", "local". Images are float32 [n, C, S, S] preprocessed as in
 * training (cldim_stream_next does that for a dataset). A handle is not
 * thread-safe: use one per thread. */
#ifndef CLDIM_CAPI_H
#define CLDIM_CAPI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cldim_encoder cldim_encoder;
typedef struct cldim_stream cldim_stream;

/* "0.1.0" */
const char *cldim_version(void);

/* Every OpenCL device as a JSON array (the objects of `cldim devices --json`),
 * malloc'd into *json (free with cldim_free). On failure *json is NULL and the
 * message is written to err (errlen bytes, NUL-terminated). */
int cldim_devices_json(char **json, char *err, size_t errlen);
void cldim_free(void *p);

/* Load a checkpoint or an exported encoder on a device (a selector as for
 * --device: "auto", "cpu", "gpu", an index, a part of a name; NULL = default).
 * *out is set even on failure (NULL only when memory ran out), so the message
 * can be read; close it in both cases. */
int cldim_encoder_open(const char *path, const char *device, cldim_encoder **out);
void cldim_encoder_close(cldim_encoder *e); /* NULL is a no-op */
/* Message of the handle's last failure ("" when none). Valid until the next call. */
const char *cldim_encoder_error(const cldim_encoder *e);

/* Encoder name ("dcgan28"), input channels and side, the device's name. */
const char *cldim_encoder_arch(const cldim_encoder *e);
void cldim_encoder_input(const cldim_encoder *e, int *channels, int *size);
const char *cldim_encoder_device(const cldim_encoder *e);
/* Width of a representation into *dim. */
int cldim_encoder_dim(cldim_encoder *e, const char *layer, int *dim);

/* Encode x [n, C, S, S] into out [n, dim(layer)] (row-major). Blocking. */
int cldim_encoder_encode(cldim_encoder *e, const float *x, int n, const char *layer,
			 float *out);

/* A dataset split or image folder in file order, preprocessed for e's input
 * (format NULL = detected, split NULL = "train", limit 0 = all, batch >= 1).
 * Failures are reported in e's message. The stream must be closed before e. */
int cldim_stream_open(cldim_encoder *e, const char *path, const char *format,
		      const char *split, size_t limit, int batch, cldim_stream **out);
void cldim_stream_close(cldim_stream *s); /* NULL is a no-op */
/* Images the stream will visit. */
size_t cldim_stream_count(const cldim_stream *s);
/* Encode the next batch: out [batch, dim(layer)], labels [batch] (-1 when
 * the data has none); *n images were written, 0 at the end. Images that fail
 * to decode are skipped (and logged). */
int cldim_stream_next(cldim_stream *s, const char *layer, float *out, int64_t *labels, int *n);

#ifdef __cplusplus
}
#endif
#endif
