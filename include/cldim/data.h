/* cldim — datasets, image decoding, augmentation and the prefetching loader.
 *
 * Four pieces, each usable alone:
 *
 *   dim_dataset   a reader over one split of a dataset on disk: count, native
 *                 size, classes, and get(i) -> uint8 HWC pixels + label.
 *                 Formats: cifar10, cifar100, stl10, mnist / fashion-mnist /
 *                 idx, imagefolder, tinyimagenet, celeba (see dim_dataset_open).
 *   dim_decoder   per-thread decoding state (one TurboJPEG handle, scratch;
 *                 PNG through libpng).
 *                 Never share one between threads.
 *   dim_transform resize / crop / flip / normalise one image into a fixed
 *                 C x H x W float tensor, randomness keyed by (seed, epoch,
 *                 sample index) so results do not depend on thread count.
 *   dim_loader    worker threads fill a ring of host batches (float32 NCHW +
 *                 int32/int64 labels) in order; shuffles per epoch from the
 *                 seed. It needs no OpenCL; dim_batch_upload copies a batch into
 *                 device buffers with dim_write_async.
 *   dim_feed      training input: the loader's batches into two device
 *                 buffers through pinned staging, step k+1's fetched and
 *                 queued while step k runs.
 *
 * Errors are dim_status values; the message (always naming the file and the
 * problem) goes to the caller's dim_error. Readers are thread-safe for get()
 * as long as each thread passes its own dim_decoder. */
#ifndef CLDIM_DATA_H
#define CLDIM_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cldim/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ images */

/* 8-bit pixels, interleaved HWC, c = 1 (gray) or 3 (RGB). Owns pix. */
typedef struct dim_image {
	uint8_t *pix;
	int w, h, c;
	size_t cap; /* bytes allocated in pix; reused by the next decode */
} dim_image;

/* Make room for w*h*c bytes (reuses the allocation); sets w, h, c. */
dim_status dim_image_reserve(dim_image *img, int w, int h, int c, dim_error *err);
void dim_image_free(dim_image *img);

typedef enum dim_image_kind {
	DIM_IMAGE_UNKNOWN = 0,
	DIM_IMAGE_JPEG, /* FF D8 FF */
	DIM_IMAGE_PNG,  /* 89 50 4E 47 */
} dim_image_kind;

/* Identify by magic bytes (never by extension). */
dim_image_kind dim_image_sniff(const uint8_t *buf, size_t len);

typedef struct dim_decoder dim_decoder;

typedef struct dim_decode_opts {
	int min_side;        /* DCT-domain downscale: the smallest TurboJPEG factor
				* whose shorter side is still >= min_side; 0 = full size */
	int allow_truncated; /* 1: decode a truncated/corrupt-tail JPEG with a warning
				* (missing rows grey); 0: refuse it (DIM_ERR_FORMAT) */
	long long max_pixels;/* refuse larger images (decompression bombs); 0 = 2^26 */
} dim_decode_opts;

dim_status dim_decoder_create(dim_decoder **out, dim_error *err);
void dim_decoder_destroy(dim_decoder *d); /* NULL is a no-op */

/* Decode an in-memory JPEG or PNG into RGB (gray and CMYK/YCCK are converted;
 * Adobe CMYK is taken as inverted; PNG: any depth/palette/gray, alpha dropped
 * as PIL's convert("RGB") does, decoded at full size). `name` is used in
 * messages. *warned (may be NULL) is set to 1 when libjpeg warned (e.g.
 * truncated) and the pixels were still used. Other formats: DIM_ERR_FORMAT. */
dim_status dim_image_decode(dim_decoder *d, const uint8_t *buf, size_t len, const char *name,
			    const dim_decode_opts *o, dim_image *img, int *warned, dim_error *err);
/* Same, reading the file at path (into the decoder's reusable buffer). */
dim_status dim_image_load(dim_decoder *d, const char *path, const dim_decode_opts *o,
			  dim_image *img, int *warned, dim_error *err);

/* Write an RGB (c=3, HWC) image as a baseline 4:2:0 JPEG; quality 1..100. */
dim_status dim_image_write_jpeg(const char *path, const uint8_t *rgb, int w, int h, int quality,
				dim_error *err);

/* ------------------------------------------------------------------ datasets */

typedef struct dim_dataset dim_dataset;

typedef struct dim_dataset_opts {
	const char *format; /* NULL or "auto": detected from the path (file names,
			     * magic bytes); else one of dim_dataset_formats() */
	const char *split;  /* NULL = "train". cifar/idx: train | test;
			     * stl10: train | test | unlabeled | train+unlabeled |
			     * foldK (K = 0..9, the train subset of fold_indices.txt);
			     * imagefolder: root/<split>/ when the folder
			     * has train/ val/ or test/ subfolders, else
			     * the whole folder ("train" or "all"; any
			     * other split is refused, never guessed);
			     * tinyimagenet: train | val | test;
			     * celeba: train | valid | test | all */
	const char *label;  /* cifar100: "fine" (default) | "coarse";
			     * celeba: an attribute name ("Smiling") -> label 0/1,
			     * NULL -> unlabeled (-1); others: must be NULL
			     * (DIM_ERR_ARG) */
	int allow_truncated;     /* JPEG datasets: see dim_decode_opts */
	long long max_pixels;    /* JPEG datasets: see dim_decode_opts */
} dim_dataset_opts;

typedef struct dim_dataset_info {
	const char *format; /* canonical format name */
	const char *split;  /* canonical split name */
	const char *path;   /* root directory or file given to open */
	size_t count;       /* samples in this split */
	int width, height;  /* native size; 0 when it varies (image folders) */
	int channels;       /* native channels: 1 (IDX) or 3 */
	int num_classes;    /* 0 when the split has no labels */
	int has_labels;     /* 0: get() always returns label -1 */
	int encoded;        /* 1: samples are compressed files (JPEG) */
} dim_dataset_info;

/* Space-separated list of format names, for help text. */
const char *dim_dataset_formats(void);

dim_status dim_dataset_open(dim_dataset **out, const char *path, const dim_dataset_opts *opts,
			    dim_error *err);
void dim_dataset_destroy(dim_dataset *ds); /* NULL is a no-op */

const dim_dataset_info *dim_dataset_get_info(const dim_dataset *ds);
/* Class name k (0 <= k < num_classes), else NULL. */
const char *dim_dataset_class_name(const dim_dataset *ds, int k);
/* Source file of sample i, for messages (NULL when out of range). For record
 * files this is the file holding the record. */
const char *dim_dataset_item_path(const dim_dataset *ds, size_t i);

/* Sample i: pixels into img (HWC uint8, c = native channels; JPEGs are RGB,
 * DCT-downscaled so the shorter side stays >= min_side when min_side > 0),
 * label into *label (-1 when unlabeled). dec may be NULL for raw-record
 * formats; JPEG formats need one per thread. *warned as in dim_image_decode. */
dim_status dim_dataset_get(dim_dataset *ds, dim_decoder *dec, size_t i, int min_side,
			   dim_image *img, int *label, int *warned, dim_error *err);

/* CelebA: number of attributes (0 when not loaded / other formats), their
 * names, and the +-1 row of sample i. */
int dim_dataset_num_attrs(const dim_dataset *ds);
const char *dim_dataset_attr_name(const dim_dataset *ds, int k);
dim_status dim_dataset_attrs(const dim_dataset *ds, size_t i, int8_t *out, dim_error *err);

/* ------------------------------------------------------------------ transforms */

typedef enum dim_crop_mode {
	DIM_CROP_CENTER = 0,   /* resize shorter side to `resize` (if > 0), centre crop */
	DIM_CROP_RANDOM,       /* resize as above, zero-pad by `pad`, random out_h x out_w crop */
	DIM_CROP_RANDOM_RESIZED, /* torchvision RandomResizedCrop(scale, ratio), 10 tries +
				  * centre fallback, resized to out_h x out_w */
} dim_crop_mode;

typedef enum dim_filter {
	DIM_FILTER_BILINEAR = 0, /* 2-tap, sample at pixel centres */
	DIM_FILTER_AREA,         /* box average over the footprint (downscaling) */
} dim_filter;

typedef struct dim_transform {
	int out_c, out_h, out_w; /* output tensor; out_c 3 from gray replicates,
				  * out_c 1 from RGB takes BT.601 luma */
	int resize;              /* shorter side resized to this first; 0 = none */
	dim_crop_mode crop;
	int pad;                 /* DIM_CROP_RANDOM: zero padding on each side */
	float scale_min, scale_max; /* DIM_CROP_RANDOM_RESIZED area fraction */
	float ratio_min, ratio_max; /* DIM_CROP_RANDOM_RESIZED aspect (w/h) */
	int hflip;               /* 1: flip horizontally with probability 1/2 */
	dim_filter filter;
	float mean[3], std[3];   /* out = (x/255 - mean[c]) / std[c] */
} dim_transform;

/* Identity-ish defaults: out_c x out_h x out_w, centre crop, no resize, no
 * flip, bilinear, mean .5 std .5 (pixels in [-1, 1], DIM's normalisation). */
void dim_transform_init(dim_transform *t, int out_c, int out_h, int out_w);

/* The paper's preprocessing (docs/method.md §7) for a format at a given
 * input size; train = 1 adds the training augmentation:
 *   cifar10/100: none (size 32), [-1,1]
 *   stl10: resize 96->size, + hflip when training, [-1,1]
 *   tinyimagenet/imagefolder: resize + centre crop, ImageNet mean/std
 *   celeba: resize + centre crop, [-1,1]
 *   mnist/fashion-mnist/idx: 1 channel, [-1,1] (3 only if channels = 3). */
dim_status dim_transform_preset(dim_transform *t, const char *format, int size, int channels,
				int train, dim_error *err);

/* The shorter side the decoder must keep so this transform loses nothing. */
int dim_transform_min_side(const dim_transform *t);

/* Apply to one image into out[out_c * out_h * out_w] (CHW). Randomness comes
 * from dim_rng(seed, epoch, index, ...) only. */
dim_status dim_transform_apply(const dim_transform *t, const dim_image *in, uint64_t seed,
			       uint64_t epoch, uint64_t index, float *out, dim_error *err);

/* Counter-based generator: a 64-bit value that depends only on its inputs. */
uint64_t dim_rng(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);
/* Uniform in [0, 1) from the top 24 bits. */
float dim_rng_unit(uint64_t r);

/* The permutation of 0..n-1 for (seed, epoch) (Fisher-Yates on dim_rng). */
void dim_permutation(size_t *perm, size_t n, uint64_t seed, uint64_t epoch);

/* ------------------------------------------------------------------ loader */

typedef struct dim_loader dim_loader;

typedef struct dim_loader_config {
	int batch_size;        /* >= 1 */
	int threads;           /* decode workers, >= 1 */
	int ring;              /* host batches in flight, >= 2 (0 = threads + 2) */
	int shuffle;           /* permute per epoch from (seed, epoch) */
	int drop_last;         /* drop a final partial batch (training) */
	int label_bytes;       /* 8: int64 labels (default, 0 means 8); 4: int32 */
	uint64_t seed;
	size_t limit;          /* use only the first `limit` samples; 0 = all */
	dim_transform transform;
	/* Data-parallel sharding (all 0: none). A global batch is batch_size *
	 * shard_count consecutive positions of the epoch's permutation; shard s
	 * holds its positions s, s + shard_count, s + 2*shard_count, ... This
	 * loader delivers shards shard_index .. shard_index + shards - 1 of every
	 * global batch, one batch each, in that order (shards > 1: gradient
	 * accumulation). Which images form a global batch thus depends only on
	 * (seed, epoch, global batch size), not on how it is split. Needs
	 * drop_last when shard_count > 1. */
	int shard_count;       /* 0 = 1 */
	int shard_index;
	int shards;            /* 0 = 1 */
	/* Unreadable samples (a file that fails to decode: DIM_ERR_FORMAT / IO /
	 * UNSUPPORTED) skipped before the loader fails; 0 = the first one is an
	 * error. A skipped sample's place goes to the next readable sample in
	 * dataset order (so batches stay full and runs deterministic); each is
	 * logged once as a warning and listed by dim_loader_bad (in dataset
	 * order). Which sample trips the limit depends on which worker reads
	 * its file first. */
	int max_bad;
} dim_loader_config;

typedef struct dim_batch {
	size_t index;          /* batch number within the epoch */
	int n;                 /* samples (== batch_size except a final partial one) */
	int c, h, w;
	float *x;              /* n x c x h x w, row-major */
	void *labels;          /* int64_t[n] or int32_t[n] */
	int label_bytes;       /* 8 or 4 */
	const size_t *items;   /* dataset index of each sample */
	int warnings;          /* samples decoded with a warning */
} dim_batch;

/* The dataset must outlive the loader. Workers start idle. */
dim_status dim_loader_create(dim_loader **out, dim_dataset *ds, const dim_loader_config *cfg,
			     dim_error *err);
/* Stops the workers (mid-epoch is fine) and frees everything. NULL: no-op. */
void dim_loader_destroy(dim_loader *l);

size_t dim_loader_items(const dim_loader *l);   /* samples delivered per epoch */
size_t dim_loader_batches(const dim_loader *l); /* batches per epoch */

/* Begin an epoch (abandons whatever is left of the previous one). */
dim_status dim_loader_start_epoch(dim_loader *l, uint64_t epoch, dim_error *err);
/* Next batch in order, blocking until ready. *out = NULL at the end of the
 * epoch. A worker failure returns its status and message (naming the file)
 * once the batches before it are delivered: with max_bad = 0 always the first
 * bad sample in this loader's delivery order (with shards, each loader's
 * own), whatever the thread timing. The epoch is then over. The batch stays
 * valid until dim_loader_release. */
dim_status dim_loader_next(dim_loader *l, dim_batch **out, dim_error *err);
void dim_loader_release(dim_loader *l, dim_batch *b);

/* Samples skipped so far as unreadable (see max_bad), and the k-th of them:
 * its dataset index, its message into *msg (valid while the loader lives);
 * (size_t)-1 when k is out of range. Safe while workers run, but the list is
 * kept in dataset order, so while they run a later find can shift entry k:
 * for a consistent list take dim_loader_bad_snapshot. */
size_t dim_loader_bad_count(dim_loader *l);
size_t dim_loader_bad(dim_loader *l, size_t k, const char **msg);
/* The list at one instant: up to cap entries into items[] and msgs[] (either
 * may be NULL); returns the number listed then, which may exceed cap. */
size_t dim_loader_bad_snapshot(dim_loader *l, size_t *items, const char **msgs, size_t cap);

/* Enqueue copies of b->x and b->labels into x and labels (dim_write_async on
 * the context's in-order queue). Do not release b before the next
 * dim_finish(ctx). Either buffer may have bytes = 0 to skip it. */
struct dim_ctx;
struct dim_buf;
dim_status dim_batch_upload(struct dim_ctx *ctx, const dim_batch *b, const struct dim_buf *x,
			    const struct dim_buf *labels, dim_error *err);

/* ------------------------------------------------------------------ feed */

/* Training input, double-buffered: each step's images (`count` loader
 * batches of `batch_bytes` image bytes, back to back) in one of two device
 * buffers, uploaded through pinned staging (dim_staging_*). dim_feed_next
 * hands out the buffer holding the next step's images; with prefetch it also
 * sets the context's wait hook, so that the step after it is fetched from the
 * loader, copied into staging and queued for the device the first time this
 * step waits for the device: the host side of the upload overlaps the step's
 * device work, and the copy runs on the in-order queue behind the step's
 * kernels, into the other buffer. The buffer handed out stays valid until the
 * second dim_feed_next after it. The loader's epoch must not end in a
 * prefetch: pass prefetch = false for an epoch's last step. Labels are not
 * uploaded. */
typedef struct dim_feed dim_feed;
typedef struct dim_feed_stats {
	bool pinned;                    /* the staging is pinned, not the malloc fallback */
	unsigned long long overlapped;  /* steps uploaded from the wait hook */
	unsigned long long direct;      /* steps uploaded by dim_feed_next itself */
	double host_s;                  /* host time spent fetching and copying */
} dim_feed_stats;

dim_status dim_feed_create(struct dim_ctx *ctx, dim_loader *ld, int count, size_t batch_bytes,
			   dim_feed **out, dim_error *err);
/* Also clears the wait hook if it is still set. NULL: no-op. */
void dim_feed_destroy(dim_feed *f);
/* Consume one step's batches without uploading them (resuming mid-epoch);
 * DIM_ERR_ARG after a prefetch. */
dim_status dim_feed_skip(dim_feed *f, dim_error *err);
/* The device buffer of the next step's images into *x. A failure of the
 * previous prefetch is reported here, with its message. */
dim_status dim_feed_next(dim_feed *f, bool prefetch, struct dim_buf *x, dim_error *err);
dim_feed_stats dim_feed_get_stats(const dim_feed *f);

#ifdef __cplusplus
}
#endif
#endif
