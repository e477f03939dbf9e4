/* cldim — checkpoints: a DIM model, its optimizers and the training position
 * in one safetensors file (PyTorch names and layouts; optimizer moments as
 * "opt.m.<name>" / "opt.v.<name>"; everything else as string metadata).
 * Written atomically (temporary file, fsync, rename): a crash leaves the
 * previous checkpoint intact. */
#ifndef CLDIM_CHECKPOINT_H
#define CLDIM_CHECKPOINT_H

#include "cldim/dim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Training position and provenance stored beside the weights. */
typedef struct dim_train_state {
	long long step;        /* optimizer steps taken */
	int epoch;             /* current epoch (0-based) */
	long long epoch_batch; /* batches of that epoch already consumed */
	uint64_t data_seed;    /* shuffling / augmentation seed */
	char dataset[512];     /* dataset path or "fashion-mnist (embedded default)" */
	char format[32];       /* dataset format name */
	char config_json[4096];/* every training option, for `cldim info` and resume */
} dim_train_state;

dim_status dim_checkpoint_save(dim_model *m, const dim_train_state *ts, const char *path);

/* Read the model configuration stored in a checkpoint (to create the model
 * before loading into it). */
dim_status dim_checkpoint_read_config(const char *path, dim_config *cfg, dim_train_state *ts,
				      dim_error *err);

/* Load weights, buffers and optimizer state into m (created from the same
 * config). Shapes and names must match exactly; the message names the first
 * mismatch. */
dim_status dim_checkpoint_load(dim_model *m, const char *path, dim_train_state *ts);

/* A checkpoint's contents, read on the host (no device needed), for
 * `cldim info`. Groups by network: "encoder", "local critics" (local_m,
 * local_y), "global critic", "prior", "other". A tensor is trainable when its
 * Adam moments are stored (opt.m.<name>, opt.v.<name>); the rest are buffers. */
#define DIM_CKPT_GROUPS 5
typedef struct dim_checkpoint_group {
	const char *name;       /* static string */
	int tensors;            /* parameters and buffers (moments not counted) */
	int trainable_tensors;  /* tensors with at least one stored moment */
	int opt_tensors;        /* trainable tensors with both moments */
	long long params;       /* trainable values */
	long long buffers;      /* buffer values (BatchNorm running statistics) */
	long long opt_values;   /* stored moment values (m and v) */
} dim_checkpoint_group;

typedef struct dim_checkpoint_summary {
	dim_config cfg;
	dim_train_state ts;
	char version[32];       /* cldim version that wrote it */
	long long file_bytes;
	dim_checkpoint_group groups[DIM_CKPT_GROUPS];
	int encoder_only;       /* an exported encoder (dim_featurizer_export): cfg has
				 * the encoder fields only, ts the provenance */
} dim_checkpoint_summary;

/* DIM_ERR_IO when path cannot be read, DIM_ERR_FORMAT when it is not a cldim
 * checkpoint or exported encoder (the message names the file and the problem). */
dim_status dim_checkpoint_summarize(const char *path, dim_checkpoint_summary *out,
				    dim_error *err);

/* Exported encoders (written by dim_featurizer_export, cldim/encode.h): the
 * encoder's tensors alone, metadata "format" = DIM_ENCODER_FILE_FORMAT. */
#define DIM_ENCODER_FILE_FORMAT "cldim-encoder-1"
/* Whether path is an exported encoder (false also when it cannot be read). */
bool dim_is_encoder_file(const char *path);
dim_status dim_encoder_file_read_config(const char *path, dim_config *cfg, dim_train_state *ts,
					dim_error *err);
/* Load the encoder's weights and buffers into m (made from the file's config). */
dim_status dim_encoder_file_load(dim_model *m, const char *path, dim_train_state *ts);

#ifdef __cplusplus
}
#endif
#endif
