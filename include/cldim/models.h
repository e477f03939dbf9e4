/* cldim — layer 4: the networks of Deep InfoMax.
 *
 * A model is plain data (config + named parameters in a dim_params set) plus
 * forward functions built from tape ops (cldim/tape_ops.h); like them, a
 * forward returns a status and its outputs through pointers (NULL on
 * failure). Parameter names and layouts are PyTorch's
 * (tools/pytorch/cldim_torch.py defines the same modules), so a checkpoint
 * loads into the PyTorch reference by name.
 *
 * Encoders (docs/method.md §2): "basic28" (the official basic28x28 for MNIST-like
 * data: two 5x5 stride-2 convs 64, 128 -> fc 1024 -> Y; M = conv = 128x7x7),
 * "dcgan28" (basic32x32's k4 s2 p1 stack on 28x28: M = 128x7x7, conv 256x3x3),
 * "dcgan32" (CIFAR basic32x32, M = 128x8x8), "dcgan64" (M = 256x8x8),
 * "alexnet64" (STL-10 / Tiny ImageNet, M = 384x15x15). Every hidden layer is
 * conv/linear without bias -> BatchNorm -> ReLU [-> max pool]; Y is a linear
 * layer with bias, no BN and no activation.
 *
 * The strided-crop and ResNet encoders of the CPC comparison (docs/method.md §2;
 * host/models/resnet.c): "foldalex64" (16x16 crops, stride 8, AlexNet
 * convs per crop, M = 192x7x7), "foldresnet19_32" (8x8 crops, stride 4,
 * bottleneck ResNet per crop, M = 1024x7x7) and "resnet19_32" (the same
 * ResNet on the whole 32x32 image, M = 512x8x8).
 *
 * "tiny12" is not the paper's: a test and smoke encoder (dcgan28's layout on
 * 12x12 with 8, 16, 32 channels and fc 64; M = 16x3x3, conv = 32x1x1) whose
 * DIM model also has a narrow prior discriminator, so that whole steps run in
 * seconds on a simulated GPU (the Oclgrind stage). */
#ifndef CLDIM_MODELS_H
#define CLDIM_MODELS_H

#include "cldim/autodiff.h"
#include "cldim/params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DIM_ENC_MAX_LAYERS 8

typedef struct dim_enc_layer {
	int is_conv;
	int out, k, stride, pad;     /* conv geometry; out features for fc */
	int pool_k, pool_s;          /* 0 = no pool */
	int in_c, in_h, in_w;        /* input shape (fc: in_c = features) */
	int out_h, out_w;            /* output map size (after the pool) */
	dim_param *w, *bn_w, *bn_b, *bn_mean, *bn_var;
	dim_param *b;                /* bias before the BN (foldalex64), or NULL */
} dim_enc_layer;

/* Bottleneck residual block: 1x1 in->mid, 3x3 mid->mid (stride), 1x1
 * mid->out, each conv without bias and with BN; ReLU after the first two and
 * after the add. Shortcut: identity, or 1x1 conv (stride) + BN when the shape
 * changes. Param index 0..2 = the three convs. */
#define DIM_ENC_MAX_BLOCKS 16
typedef struct dim_enc_block {
	int in_c, mid_c, out_c, stride, in_h, out_h;
	dim_param *w[3], *bn_w[3], *bn_b[3], *bn_mean[3], *bn_var[3];
	dim_param *sc_w, *sc_bn_w, *sc_bn_b, *sc_bn_mean, *sc_bn_var; /* NULL: identity */
} dim_enc_block;

typedef enum dim_enc_kind {
	DIM_ENC_PLAIN = 0, /* layers[] in order (encoder.c) */
	DIM_ENC_FOLD_CONV, /* crops -> layers[0..fold_after] -> fold -> rest (resnet.c) */
	DIM_ENC_RESNET,    /* [crops ->] layers[0] -> blocks[] [-> fold] -> layers[1..] (resnet.c) */
} dim_enc_kind;

typedef struct dim_encoder {
	char name[32];
	int in_channels, input_size, y_dim;
	int nlayers, m_layer;        /* m_layer indexes layers[] (a conv layer) */
	dim_enc_layer layers[DIM_ENC_MAX_LAYERS];
	dim_param *y_w, *y_b;
	int m_shape[3], conv_shape[3], fc_dim; /* C,H,W of M and of the last conv */
	float bn_momentum, bn_eps;
	dim_enc_kind kind;
	int crop, crop_stride, grid; /* strided crops (crop = 0: none); grid crops per side */
	int fold_after;              /* DIM_ENC_FOLD_CONV: last per-crop layer */
	int nblocks, m_block;        /* DIM_ENC_RESNET: M is blocks[m_block]'s output (or the fold) */
	dim_enc_block blocks[DIM_ENC_MAX_BLOCKS];
} dim_encoder;

/* Names accepted by dim_encoder_build, NULL-terminated. */
extern const char *const dim_encoder_names[];

/* Create the encoder's parameters in ps (prefix "encoder.") with PyTorch's
 * default initialisation from seed (foldalex64: N(0, 0.02) weights, as the
 * official config). */
dim_status dim_encoder_build(dim_encoder *e, dim_params *ps, const char *name, int in_channels,
			     int y_dim, uint64_t seed);
/* Input side for an encoder name (12, 28, 32, 64), or 0 for an unknown name. */
int dim_encoder_input_size(const char *name);
/* Hidden widths of the prior discriminator of a DIM model with this encoder
 * (Y -> widths[0] -> widths[1] -> 1): the paper's 1000 and 200, except for the
 * test encoder tiny12 (32 and 16). */
void dim_encoder_prior_widths(const char *name, int widths[2]);

typedef struct dim_encoder_out {
	dim_var *M;      /* local map  [N, C, H, W] */
	dim_var *conv;   /* last conv map [N, C, H, W] */
	dim_var *fc;     /* last hidden fc [N, F] */
	dim_var *Y;      /* global vector [N, y_dim], pre-sigmoid */
} dim_encoder_out;

/* x [N, in_channels, S, S]. Training mode (batch statistics, running-stat
 * update) follows dim_tape_training. */
dim_status dim_encoder_forward(dim_tape *t, const dim_encoder *e, dim_var *x, dim_encoder_out *out);

/* Encode-and-dot embedding net (official MI1x1ConvNet) on rows [R, C]:
 * c0 (C->D, no bias) -> BN -> ReLU -> c1 (D->D, bias) + shortcut (C->D, no
 * bias, noisy-identity init when D >= C) -> LayerNorm over D. Weights are
 * stored as 1x1 convolutions [D, C, 1, 1] under PyTorch's names. */
typedef struct dim_mi1x1 {
	int in, out;
	dim_param *c0, *bn_w, *bn_b, *bn_mean, *bn_var, *c1_w, *c1_b, *sc, *ln_w, *ln_b;
} dim_mi1x1;

dim_status dim_mi1x1_build(dim_mi1x1 *m, dim_params *ps, const char *prefix, int in, int out,
			   uint64_t seed);
/* rows [R, in] -> [R, out] */
dim_status dim_mi1x1_forward(dim_tape *t, const dim_mi1x1 *m, dim_var *rows, dim_var **out);

/* Global critic (paper Table 6): concat(flattened conv, Y) -> 512 -> ReLU ->
 * 512 -> ReLU -> 1, for every (Y of image n, conv of image m) pair: S[n,m,1].
 * The first layer is split (pairwise op) so the N*N concatenations are never
 * built. */
typedef struct dim_global_critic {
	int conv_dim, y_dim, hidden;
	dim_param *l0_w, *l0_b, *l1_w, *l1_b, *l2_w, *l2_b;
} dim_global_critic;

dim_status dim_global_critic_build(dim_global_critic *g, dim_params *ps, const char *prefix,
				   int conv_dim, int y_dim, int hidden, uint64_t seed);
/* conv [N, ...] (flattened inside), y [N, y_dim] -> scores [N, N, 1] */
dim_status dim_global_critic_forward(dim_tape *t, const dim_global_critic *g, dim_var *conv,
				     dim_var *y, dim_var **out);

/* Concat-and-convolve local critic (paper Table 7; official Aug-2018 code):
 * [M at location l ; Y broadcast] -> 1x1 conv H -> ReLU -> 1x1 conv H -> ReLU ->
 * 1x1 conv 1, no biases. Weights [H, C+y, 1, 1], [H, H, 1, 1], [1, H, 1, 1].
 * Scored for the N*L positive pairs and N*L negatives in which location l of
 * image n is replaced by location l of image pi_l(n) (neg_idx, a permutation
 * of the rows; the official code shuffles the batch at every location). The
 * first layer is split so Y's half is computed once per image. */
typedef struct dim_concat_critic {
	int m_channels, y_dim, hidden;
	dim_param *l0, *l1, *l2;
} dim_concat_critic;

dim_status dim_concat_critic_build(dim_concat_critic *c, dim_params *ps, const char *prefix,
				   int m_channels, int y_dim, int hidden, uint64_t seed);
/* rows [N*L, C] (M as per-location rows, image-major), y [N, y_dim],
 * neg_idx: N*L int32 on the device. Outputs pos, neg: [1, N*L] scores. */
dim_status dim_concat_critic_forward(dim_tape *t, const dim_concat_critic *c, dim_var *rows,
				     dim_var *y, dim_buf neg_idx, dim_var **pos, dim_var **neg);

/* Multi-layer perceptron with ReLU between layers (prior discriminator
 * 64 -> 1000 -> 200 -> 1, probes). Names prefix.l0, prefix.l1, ... */
#define DIM_MLP_MAX 6
typedef struct dim_mlp {
	int nlayers, dims[DIM_MLP_MAX + 1];
	dim_param *w[DIM_MLP_MAX], *b[DIM_MLP_MAX];
} dim_mlp;

dim_status dim_mlp_build(dim_mlp *m, dim_params *ps, const char *prefix, int nlayers,
			 const int *dims, uint64_t seed);
dim_status dim_mlp_forward(dim_tape *t, const dim_mlp *m, dim_var *x, dim_var **out);

/* Layer geometry of a built encoder, one row per layer in forward order (for
 * `cldim info --arch`, the README table and exported encoders' metadata).
 * Shapes are C,H,W (vectors: {F, 0, 0}); rows with per_crop run on each
 * strided crop as its own batch row. role names the representations a row's
 * output is: "M", "conv", "fc", "Y" (comma-separated), or "". */
#define DIM_ENC_MAX_ROWS 32
typedef struct dim_enc_row {
	char name[40];      /* PyTorch module name (conv0, fc0, blocks.2, y) or crops / fold */
	char kind[16];      /* conv | fc | linear | bottleneck | crops | fold */
	int k, stride, pad; /* 0 where not applicable; crops: crop side and stride */
	int pool_k, pool_s; /* max pool after the ReLU (0: none) */
	int mid;            /* bottleneck width */
	int in[3], out[3];
	int bias, bn, per_crop, shortcut;
	char role[24];
} dim_enc_row;

/* Fills at most cap rows; returns how many the encoder has. */
int dim_encoder_describe(const dim_encoder *e, dim_enc_row *rows, int cap);
/* The same as one JSON object (encoder, in_channels, input_size, y_dim, M,
 * conv, fc, bn_eps, bn_momentum, layers[]); *out is malloc'd. */
dim_status dim_encoder_arch_json(const dim_encoder *e, char **out, dim_error *err);

#ifdef __cplusplus
}
#endif
#endif
