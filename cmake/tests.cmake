# Every tests/test_<name>.c is one test executable and one CTest test.
# A first-line comment in the file chooses labels and the timeout:
#   /* cldim-test: labels=opencl;unit timeout=300 */
# Tests labelled "opencl" share one lock so PoCL runs them one at a time.
# Exit code 77 means "skipped" (no OpenCL platform, no PyTorch, ...).
find_program(CLDIM_TORCH_PYTHON NAMES python3
  HINTS /usr/bin NO_DEFAULT_PATH DOC "python3 that has torch and numpy (Debian's)")
if(CLDIM_TORCH_PYTHON)
  execute_process(COMMAND ${CLDIM_TORCH_PYTHON} -c "import torch, numpy"
    RESULT_VARIABLE torch_rc OUTPUT_QUIET ERROR_QUIET)
  if(NOT torch_rc EQUAL 0)
    message(STATUS "PyTorch not found for ${CLDIM_TORCH_PYTHON}: parity tests will report skipped")
  endif()
endif()

file(GLOB CLDIM_TEST_SUPPORT CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/support/*.c)
add_library(cldim_testsupport STATIC ${CLDIM_TEST_SUPPORT})
target_include_directories(cldim_testsupport PUBLIC ${CMAKE_SOURCE_DIR}/tests/support ${CMAKE_SOURCE_DIR}/host)
target_link_libraries(cldim_testsupport PUBLIC cldim)
target_compile_options(cldim_testsupport PRIVATE ${CLDIM_WARN})

set(CLDIM_TEST_ENV
  "POCL_CACHE_DIR=${CMAKE_BINARY_DIR}/pocl-cache"
  "CLDIM_CACHE_DIR=${CMAKE_BINARY_DIR}/test-cache"
  "CLDIM_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
  "CLDIM_BINARY_DIR=${CMAKE_BINARY_DIR}"
  "CLDIM_CLI=$<TARGET_FILE:cldim_cli>"
  "CLDIM_TORCH_PYTHON=${CLDIM_TORCH_PYTHON}"
  "PYTHONDONTWRITEBYTECODE=1"
  "ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1")

file(GLOB CLDIM_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/test_*.c)
# tests/test_mpi_*.c: only in the MPI build. "mpiexec=N" in the first line runs
# the test under the MPI launcher with N ranks; the others may launch it.
if(CLDIM_WITH_MPI)
  list(APPEND CLDIM_TEST_ENV
    "CLDIM_MPIEXEC=${MPIEXEC_EXECUTABLE}"
    "OMPI_ALLOW_RUN_AS_ROOT=1" "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
    "OMPI_MCA_btl_vader_single_copy_mechanism=none" "OMPI_MCA_rmaps_base_oversubscribe=1"
    "POCL_MAX_PTHREAD_COUNT=1")
else()
  list(FILTER CLDIM_TESTS EXCLUDE REGEX "/test_mpi_[^/]*$")
endif()
foreach(src IN LISTS CLDIM_TESTS)
  get_filename_component(name ${src} NAME_WE)
  file(STRINGS ${src} head LIMIT_COUNT 1)
  set(labels "unit")
  set(timeout 120)
  # file(STRINGS) escapes the list separator: "labels=opencl\;slow"
  string(REPLACE "\\;" "," head "${head}")
  if(head MATCHES "labels=([a-z,_-]+)")
    string(REPLACE "," ";" labels "${CMAKE_MATCH_1}")
  endif()
  if(head MATCHES "timeout=([0-9]+)")
    set(timeout "${CMAKE_MATCH_1}")
  endif()
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE cldim_testsupport)
  target_compile_options(${name} PRIVATE ${CLDIM_WARN})
  if(head MATCHES "mpiexec=([0-9]+)")
    add_test(NAME ${name} COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${CMAKE_MATCH_1}
      ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${name}> ${MPIEXEC_POSTFLAGS}
      WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  else()
    add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${labels}" TIMEOUT ${timeout}
    SKIP_RETURN_CODE 77 ENVIRONMENT "${CLDIM_TEST_ENV}")
  if("opencl" IN_LIST labels)
    set_tests_properties(${name} PROPERTIES RESOURCE_LOCK opencl)
  endif()
endforeach()

# Every label of a multi-label head applies (they were cut at the first ';',
# so `-LE slow` and `-L '^op$'` missed tests): check one that has several.
get_test_property(test_bench_tune LABELS bench_tune_labels)
if(NOT "slow" IN_LIST bench_tune_labels OR NOT "opencl" IN_LIST bench_tune_labels)
  message(FATAL_ERROR "cmake/tests.cmake: test_bench_tune labels '${bench_tune_labels}', "
    "expected opencl;cli;slow")
endif()

# Python-driven checks (parity with PyTorch, CLI behaviour): tests/*_test.py
file(GLOB CLDIM_PY_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/py/test_*.py)
foreach(src IN LISTS CLDIM_PY_TESTS)
  get_filename_component(name ${src} NAME_WE)
  file(STRINGS ${src} head LIMIT_COUNT 2)
  set(timeout 300)
  if(head MATCHES "timeout=([0-9]+)")
    set(timeout "${CMAKE_MATCH_1}")
  endif()
  add_test(NAME py_${name} COMMAND ${CLDIM_TORCH_PYTHON} ${src} WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(py_${name} PROPERTIES LABELS "python;opencl" TIMEOUT ${timeout}
    SKIP_RETURN_CODE 77 RESOURCE_LOCK opencl ENVIRONMENT "${CLDIM_TEST_ENV}")
endforeach()

if(CLDIM_FUZZ)
  file(GLOB CLDIM_FUZZERS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
  foreach(src IN LISTS CLDIM_FUZZERS)
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_link_libraries(${name} PRIVATE cldim)
    target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/host)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    add_test(NAME ${name} COMMAND ${name} -max_total_time=20 -rss_limit_mb=2048)
    set_tests_properties(${name} PROPERTIES LABELS "fuzz" TIMEOUT 120)
  endforeach()
endif()

# Layer order (docs/design.md): includes and calls between the library's
# layers only look down; the second test proves the check fails on each kind
# of violation. Labelled mpi too, so the MPI build checks host/mpi/'s calls.
if(CLDIM_TORCH_PYTHON)
  add_test(NAME layers_check
    COMMAND ${CLDIM_TORCH_PYTHON} ${CMAKE_SOURCE_DIR}/tests/layers/check_layers.py
            --root ${CMAKE_SOURCE_DIR} --build ${CMAKE_BINARY_DIR})
  add_test(NAME layers_check_selftest
    COMMAND ${CLDIM_TORCH_PYTHON} ${CMAKE_SOURCE_DIR}/tests/layers/test_check_layers.py)
  set_tests_properties(layers_check layers_check_selftest PROPERTIES
    LABELS "unit;mpi" TIMEOUT 120 SKIP_RETURN_CODE 77 ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
endif()

# The simulated-GPU stage (issue 14): with -DCLDIM_OCLGRIND=ON the op tests,
# the MI estimator tests, the DIM step parity test, extraction and a 3-step
# `cldim train` run again under Oclgrind (an OpenCL 1.2 GPU simulator) through
# tests/oclgrind/run.sh, which fails on any Oclgrind diagnostic (invalid read
# or write, data race, barrier divergence, API misuse), with the GPU kernel
# forms (CLDIM_VEC16=0), the CLBlast GEMM and the tests' small shapes
# (CLDIM_TEST_SMALL=1). Off by default: the plain `ctest` stays as fast as
# before; .ci/run turns it on and runs `ctest -L '^oclgrind$'`.
if(CLDIM_OCLGRIND)
  find_program(CLDIM_OCLGRIND_EXE oclgrind REQUIRED)
  set(CLDIM_OCLGRIND_TIMEOUT 600 CACHE STRING "Timeout of each Oclgrind test (seconds)")
  set(ocl_run ${CMAKE_SOURCE_DIR}/tests/oclgrind/run.sh)
  # PyTorch parity is off here (the PoCL run has it; it costs ~20 s of
  # Python start-up per test) except in the DIM step test, whose only oracle
  # it is (PyTorch in float64 on the CPU).
  set(ocl_env_torch ${CLDIM_TEST_ENV} "OCLGRIND=${CLDIM_OCLGRIND_EXE}")
  set(ocl_env ${ocl_env_torch})
  list(FILTER ocl_env EXCLUDE REGEX "^CLDIM_TORCH_PYTHON=")
  list(APPEND ocl_env "CLDIM_TORCH_PYTHON=" "CLDIM_TORCH_PARITY=off")
  # All under the race detector and memory checks. The whole-model tests
  # (DIM step parity, extraction, training) run the 12x12 test encoder tiny12
  # in small mode: dcgan28's 6.4 M-weight layer made every parameter-sized
  # kernel millions of simulated work-items (tens of minutes per test).
  set(CLDIM_OCLGRIND_TESTS
    activation batchnorm conv crops dropout gemm layernorm linear loss optim pairwise
    permute pool tensor mi mi_sanity dim_parity eval_extract)
  foreach(t IN LISTS CLDIM_OCLGRIND_TESTS)
    add_test(NAME oclgrind_${t} COMMAND ${ocl_run} $<TARGET_FILE:test_${t}>
      WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
    set_tests_properties(oclgrind_${t} PROPERTIES LABELS "oclgrind" TIMEOUT ${CLDIM_OCLGRIND_TIMEOUT}
      SKIP_RETURN_CODE 77 ENVIRONMENT "${ocl_env}")
  endforeach()
  set_tests_properties(oclgrind_dim_parity PROPERTIES ENVIRONMENT "${ocl_env_torch}")
  add_test(NAME oclgrind_train COMMAND ${CMAKE_SOURCE_DIR}/tests/oclgrind/train.sh
    $<TARGET_FILE:cldim_cli> WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(oclgrind_train PROPERTIES LABELS "oclgrind"
    TIMEOUT ${CLDIM_OCLGRIND_TIMEOUT}
    SKIP_RETURN_CODE 77 ENVIRONMENT "${ocl_env}")

  # The stage's own tests: a test-only program with broken kernels. The runner
  # must report the out-of-bounds write and the race (--expect), fail a plain
  # run of them (WILL_FAIL), and pass the clean control kernel.
  add_executable(oclgrind_bad_kernel ${CMAKE_SOURCE_DIR}/tests/oclgrind/bad_kernel.c)
  target_link_libraries(oclgrind_bad_kernel PRIVATE cldim_testsupport)
  target_compile_options(oclgrind_bad_kernel PRIVATE ${CLDIM_WARN})
  foreach(mode oob race clean)
    add_test(NAME oclgrind_stage_${mode} COMMAND ${ocl_run}
      $<TARGET_FILE:oclgrind_bad_kernel> ${mode})
    set_tests_properties(oclgrind_stage_${mode} PROPERTIES LABELS "oclgrind" TIMEOUT 120
      ENVIRONMENT "${ocl_env}")
  endforeach()
  set_tests_properties(oclgrind_stage_oob oclgrind_stage_race PROPERTIES WILL_FAIL TRUE)
  add_test(NAME oclgrind_catches_oob COMMAND ${ocl_run} --expect invalid-access
    $<TARGET_FILE:oclgrind_bad_kernel> oob)
  add_test(NAME oclgrind_catches_race COMMAND ${ocl_run} --expect data-race
    $<TARGET_FILE:oclgrind_bad_kernel> race)
  set_tests_properties(oclgrind_catches_oob oclgrind_catches_race PROPERTIES
    LABELS "oclgrind" TIMEOUT 120 ENVIRONMENT "${ocl_env}")
endif()
