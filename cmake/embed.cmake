# Turn one OpenCL source file into a C translation unit holding its text.
# Invoked at build time: cmake -DIN=x.cl -DOUT=x.c -DSYM=name -P embed.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE "${OUT}"
  "/* generated from ${IN}; do not edit */\n#include <stddef.h>\n"
  "const char ${SYM}[] = {${body}0x00};\n"
  "const size_t ${SYM}_len = sizeof(${SYM}) - 1;\n")
