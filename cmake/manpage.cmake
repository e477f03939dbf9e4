# Writes the man page cldim(1) from the tool's own help texts:
#   cmake -DCLI=path/to/cldim -DOUT=cldim.1 -DVERSION=x.y.z -P manpage.cmake
# The overview (`cldim --help`) and, for each command it lists, `cldim CMD --help`,
# verbatim in .nf blocks, so the page says what the binary says.
function(help_of out)
  # (sanitizer builds: a leak report at exit must not fail the build)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0
                          ${CLI} ${ARGN} --help OUTPUT_VARIABLE text
    RESULT_VARIABLE rc ERROR_QUIET)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "manpage: '${CLI} ${ARGN} --help' failed (${rc})")
  endif()
  # troff: backslashes, and lines that start with a control character
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

help_of(overview)
set(page ".TH CLDIM 1 \"\" \"cldim ${VERSION}\" \"User Commands\"
.SH NAME
cldim \\- Deep InfoMax on any OpenCL device
.SH SYNOPSIS
.B cldim
[\\-v|\\-q] COMMAND [options]
.SH DESCRIPTION
cldim trains Deep InfoMax (Hjelm et al., ICLR 2019) on any OpenCL device,
extracts features, evaluates them and exports encoders for C, Python and PyTorch.
This page collects the tool's own help texts.
.PP
.nf
${overview}.fi
.SH COMMANDS
")
string(REGEX MATCHALL "\n  [a-z]+ " cmds "${overview}")
foreach(c IN LISTS cmds)
  string(STRIP "${c}" c)
  help_of(text ${c})
  string(APPEND page ".SS cldim ${c}\n.nf\n${text}.fi\n")
endforeach()
string(APPEND page ".SH FILES
Checkpoints and exported encoders are safetensors files; features are .npy.
The library, its headers, cldim.pc and the CMake package (find_package(cldim))
are installed beside this command; see README.md (\"Use cldim from C and Python\").
.SH SEE ALSO
README.md in the documentation directory
")
file(WRITE ${OUT} "${page}")
