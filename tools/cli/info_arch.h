/* cldim info --arch: the layer geometry of the encoders (info_arch.c). */
#ifndef CLDIM_INFO_ARCH_H
#define CLDIM_INFO_ARCH_H

/* name: an encoder name or "all". Prints a Markdown table; returns the exit code. */
int info_arch(const char *name, int channels, const char *device);

#endif
