/* cldim — encoding images with a trained (or randomly initialised) DIM
 * encoder, for feature extraction, evaluation and nearest neighbours.
 *
 * A dim_featurizer holds one DIM model (loaded from a checkpoint, or freshly
 * initialised from a config: the "random encoder" baseline), its own tape and
 * an input buffer. Encoding runs the encoder in evaluation mode (BatchNorm
 * uses the running statistics, nothing is recorded), so a sample's features
 * do not depend on the other samples of the batch or on the batch size.
 *
 * Representations (docs/method.md §8):
 *   conv   the last convolutional map, flattened C*H*W (basic28: 128*7*7)
 *   fc     the last hidden fully connected layer (1024 or 4096)
 *   Y      the global vector, pre-sigmoid (64)
 *   local  the local map M averaged over its locations (C of M)
 *
 * Usage from C:
 *
 *   dim_featurizer *f;
 *   if (dim_featurizer_load(ctx, "runs/x/ckpt-00000300.safetensors", &f))
 *           fprintf(stderr, "%s\n", dim_ctx_errmsg(ctx));
 *   int d = dim_featurizer_dim(f, DIM_REPR_Y);
 *   float *y = malloc(n * d * sizeof *y);
 *   dim_featurizer_encode(f, images, n, DIM_REPR_Y, y);  // images: n x C x S x S
 *   dim_featurizer_destroy(f);
 *
 * Images are float NCHW at the encoder's input size and channels
 * (dim_featurizer_input), normalised as in training (dim_transform_preset
 * with train = 0 gives the right transform). Errors are dim_status values
 * with the message in the context (dim_ctx_errmsg). A featurizer is not
 * thread-safe: use one per thread. */
#ifndef CLDIM_ENCODE_H
#define CLDIM_ENCODE_H

#include "cldim/checkpoint.h"
#include "cldim/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dim_repr {
	DIM_REPR_CONV = 0,
	DIM_REPR_FC,
	DIM_REPR_Y,
	DIM_REPR_LOCAL,
	DIM_REPR_COUNT
} dim_repr;

/* "conv", "fc", "Y", "local". */
const char *dim_repr_name(dim_repr r);
/* Parse a name (case-insensitive for "y"); DIM_ERR_ARG with a message
 * listing the choices otherwise. */
dim_status dim_repr_parse(const char *s, dim_repr *out, dim_error *err);

typedef struct dim_featurizer dim_featurizer;

/* Load a checkpoint written by `cldim train` / dim_checkpoint_save, or an
 * encoder written by dim_featurizer_export. */
dim_status dim_featurizer_load(dim_ctx *ctx, const char *checkpoint, dim_featurizer **out);
/* A randomly initialised model of cfg's architecture (PyTorch's default
 * initialisation from `seed`; BatchNorm running stats 0 / 1). */
dim_status dim_featurizer_random(dim_ctx *ctx, const dim_config *cfg, uint64_t seed,
				 dim_featurizer **out);
void dim_featurizer_destroy(dim_featurizer *f); /* NULL is a no-op */

/* Exported encoders ("cldim export"): the encoder alone in one safetensors
 * file, format "cldim-encoder-1". Tensors under the PyTorch module's names
 * (tools/pytorch/cldim_torch.py make_encoder: "conv0.weight", "bn0.running_mean",
 * "bn0.num_batches_tracked" (int64 scalar: the training steps), ..., "y.bias"),
 * so torch's load_state_dict(strict=True) takes the file as it is; metadata:
 * cfg.encoder, cfg.in_channels, cfg.y_dim, input_size, "architecture" (the
 * layer geometry as JSON, dim_encoder_arch_json), step, dataset,
 * dataset_format and the training options ("config"). dim_featurizer_load
 * accepts such a file as well as a full checkpoint; its config then has only
 * the encoder fields set (critics of the smallest size, never used). */
dim_status dim_featurizer_export(dim_featurizer *f, const char *path);
/* Reading such a file: dim_is_encoder_file, dim_encoder_file_read_config and
 * dim_encoder_file_load in cldim/checkpoint.h. */

const dim_config *dim_featurizer_config(const dim_featurizer *f);
/* Provenance stored in the checkpoint (dataset, format, step); zeroed for a
 * random featurizer. */
const dim_train_state *dim_featurizer_train_state(const dim_featurizer *f);
/* Input geometry: channels and side (square) the encoder expects. */
void dim_featurizer_input(const dim_featurizer *f, int *channels, int *size);
/* Feature width of a representation. */
int dim_featurizer_dim(const dim_featurizer *f, dim_repr r);
dim_model *dim_featurizer_model(dim_featurizer *f);

/* Encode n host images x [n, C, S, S] into out [n, dim(r)] (host, row-major).
 * Blocking. */
dim_status dim_featurizer_encode(dim_featurizer *f, const float *x, int n, dim_repr r,
				 float *out);

/* One forward pass, several representations: out[i] receives reprs[i]
 * ([n, dim(reprs[i])]); NULL entries are skipped. Blocking. */
dim_status dim_featurizer_encode_many(dim_featurizer *f, const float *x, int n, int count,
				      const dim_repr *reprs, float *const *out);

/* Device variant: x is a device tensor [n, C, S, S]; *out is set to a view
 * of the representation [n, dim(r)] in the featurizer's scratch memory,
 * valid until the next encode call on f. Enqueues work only. */
dim_status dim_featurizer_encode_device(dim_featurizer *f, const dim_tensor *x, dim_repr r,
					dim_tensor *out);

/* ------------------------------------------------------------ image streams
 *
 * A dataset split (or any folder of JPEGs) in file order, as batches of
 * float NCHW images ready for a featurizer (the paper's evaluation
 * preprocessing, dim_transform_preset with train = 0). A sample that fails
 * to decode is logged, listed (dim_image_stream_skipped) and left out, or
 * stops the stream with its error when strict. Batches are decoded by the
 * prefetching loader's worker threads, overlapping the caller's compute;
 * after the first bad sample the rest of the split is decoded on the
 * calling thread, sample by sample. */
typedef struct dim_image_stream dim_image_stream;

typedef struct dim_stream_opts {
	const char *format;  /* NULL / "auto": detected */
	const char *split;   /* NULL: "train" (see dim_dataset_opts) */
	size_t limit;        /* first N samples only; 0 = all */
	int batch;           /* images per batch (>= 1) */
	int threads;         /* decode threads (>= 1) */
	int strict;          /* 1: a bad sample is an error */
	int channels, size;  /* encoder input (dim_featurizer_input) */
} dim_stream_opts;

dim_status dim_image_stream_open(dim_image_stream **out, const char *path,
				 const dim_stream_opts *o, dim_error *err);
void dim_image_stream_destroy(dim_image_stream *s); /* NULL is a no-op */

const dim_dataset_info *dim_image_stream_info(const dim_image_stream *s);
dim_dataset *dim_image_stream_dataset(dim_image_stream *s);
/* Samples the stream will visit (limit applied), skipped ones included. */
size_t dim_image_stream_count(const dim_image_stream *s);

/* The next batch: *x [n, C, S, S], labels[n] (-1 when unlabeled), items[n]
 * (dataset index of each sample). *n = 0 at the end. Pointers stay valid
 * until the next call. */
dim_status dim_image_stream_next(dim_image_stream *s, const float **x, const int64_t **labels,
				 const size_t **items, int *n, dim_error *err);

/* Samples skipped so far: their dataset indices and one message each. */
size_t dim_image_stream_skipped(const dim_image_stream *s, const size_t **items,
				const char *const **messages);

/* Source of sample i for a paths file: the file for JPEG datasets, else
 * "<record file> index i". */
void dim_image_stream_source(const dim_image_stream *s, size_t i, char *buf, size_t n);

/* ------------------------------------------------------------ extraction */

typedef struct dim_extract_progress {
	size_t done, total, skipped;
	double images_per_s, elapsed_s;
	bool final;
} dim_extract_progress;

typedef struct dim_extract_options {
	dim_stream_opts stream;
	const char *data_path;
	dim_repr repr;
	const char *features_npy;  /* float32 [N, D], streamed */
	const char *labels_npy;    /* int64 [N]; NULL or unlabeled data: not written */
	const char *paths_txt;     /* one source per line; NULL: not written */
	const char *skipped_txt;   /* "index<TAB>message" lines; NULL: not written */
	void (*progress)(void *user, const dim_extract_progress *p);
	void *progress_user;
} dim_extract_options;

typedef struct dim_extract_result {
	size_t written, skipped;
	int dim;
	int has_labels;
	double seconds, images_per_s;
} dim_extract_result;

/* Encode a whole split into .npy files. Memory does not grow with the
 * dataset: rows are appended as batches finish. */
dim_status dim_extract_run(dim_featurizer *f, const dim_extract_options *o,
			   dim_extract_result *res);

/* Encode a split into host memory for evaluation: feats[i] (malloc'd,
 * [*n, dim(reprs[i])]) for each of `count` representations, labels (malloc'd
 * int32 [*n]). Skipped samples are left out. */
dim_status dim_extract_memory(dim_featurizer *f, const char *path, const dim_stream_opts *so,
			      int count, const dim_repr *reprs, float **feats, int32_t **labels,
			      size_t *n);

/* The raw-pixel baseline: the preprocessed images themselves as features
 * (*x malloc'd [*n, channels * size * size], as the encoder would see them). */
dim_status dim_extract_pixels(const char *path, const dim_stream_opts *so, float **x,
			      int32_t **labels, size_t *n, dim_error *err);

#ifdef __cplusplus
}
#endif
#endif
