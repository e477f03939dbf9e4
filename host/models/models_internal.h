/* Between the encoder front door (encoder.c) and the strided-crop / ResNet
 * encoders (resnet.c). Not installed. */
#ifndef CLDIM_MODELS_INTERNAL_H
#define CLDIM_MODELS_INTERNAL_H

#include "cldim/models.h"

/* Input side of a resnet.c encoder name, 0 when it is not one of them. */
int dim_resnet_input_size(const char *name);
dim_status dim_resnet_build(dim_encoder *e, dim_params *ps, const char *name, int in_channels,
			    int y_dim, uint64_t seed);
/* x already checked against e's input shape; out zeroed. */
dim_status dim_resnet_forward(dim_tape *t, const dim_encoder *e, dim_var *x,
			      dim_encoder_out *out);

#endif
