# cldim as an installed library (included from CMakeLists.txt):
#   cmake --install build --prefix P
# puts the shared library (libcldim.so.MAJOR.MINOR, with the libcldim.so
# link), the static archive, the public headers include/cldim/*.h (the
# internal ones stay in host/), a pkg-config file, a CMake package
# (find_package(cldim) -> cldim::cldim, cldim::cldim_static), the cldim
# command, its man page (from every command's --help) and the examples.
# Both files are relocatable: they find the prefix from where they lie.
option(CLDIM_SHARED "Build the shared library libcldim.so beside libcldim.a" ON)
if(CLDIM_FUZZ)
  set(CLDIM_SHARED OFF) # libFuzzer instrumentation is for the static fuzz targets
endif()

set(CLDIM_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
if(CLDIM_SHARED)
  add_library(cldim_shared SHARED $<TARGET_OBJECTS:cldim_objs>)
  set_target_properties(cldim_shared PROPERTIES OUTPUT_NAME cldim
    VERSION ${PROJECT_VERSION} SOVERSION ${CLDIM_SOVERSION})
  target_include_directories(cldim_shared PUBLIC ${CMAKE_SOURCE_DIR}/include)
  target_link_libraries(cldim_shared PRIVATE cldim_deps)
  if(CLDIM_WITH_MPI)
    target_link_libraries(cldim_shared PRIVATE MPI::MPI_C)
  endif()
  if(NOT CLDIM_SANITIZE)
    target_link_options(cldim_shared PRIVATE -Wl,--no-undefined)
  endif()
  install(TARGETS cldim_shared LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
install(TARGETS cldim ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

# Public headers: include/cldim/*.h (they include only each other and
# <CL/cl.h>); mpi.h only in the MPI build, whose library defines its functions.
file(GLOB CLDIM_PUBLIC_HEADERS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/include/cldim/*.h)
if(NOT CLDIM_WITH_MPI)
  list(FILTER CLDIM_PUBLIC_HEADERS EXCLUDE REGEX "/mpi\\.h$")
endif()
install(FILES ${CLDIM_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cldim)

# What a static link needs, from the libraries cldim_deps links: pkg-config
# module names (Requires.private) and plain flags (Libs.private).
get_target_property(cldim_dep_list cldim_deps INTERFACE_LINK_LIBRARIES)
set(CLDIM_PC_PRIVATE "")
set(CLDIM_PC_LIBS_PRIVATE "")
foreach(dep IN LISTS cldim_dep_list)
  string(TOLOWER "${dep}" d)
  if(d MATCHES "clblast")
    list(APPEND CLDIM_PC_PRIVATE clblast)
  elseif(d MATCHES "turbojpeg")
    list(APPEND CLDIM_PC_PRIVATE libturbojpeg)
  elseif(d MATCHES "zlib")
    list(APPEND CLDIM_PC_PRIVATE zlib)
  elseif(d MATCHES "png")
    list(APPEND CLDIM_PC_PRIVATE libpng)
  elseif(d MATCHES "threads")
    list(APPEND CLDIM_PC_LIBS_PRIVATE -pthread)
  elseif(d STREQUAL "m")
    list(APPEND CLDIM_PC_LIBS_PRIVATE -lm)
  endif()
endforeach()
set(CLDIM_CONFIG_EXTRA_LIBS "")
if(CLDIM_WITH_MPI)
  list(APPEND CLDIM_PC_LIBS_PRIVATE ${MPI_C_LIBRARIES})
  list(JOIN MPI_C_LIBRARIES ";" CLDIM_CONFIG_EXTRA_LIBS)
  string(PREPEND CLDIM_CONFIG_EXTRA_LIBS ";")
endif()
list(JOIN CLDIM_PC_PRIVATE " " CLDIM_PC_REQUIRES_PRIVATE)
list(JOIN CLDIM_PC_LIBS_PRIVATE " " CLDIM_PC_LIBS_PRIVATE)

if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  message(WARNING "cldim.pc and the CMake package are not relocatable with an absolute libdir")
endif()
file(RELATIVE_PATH CLDIM_PC_UP "/P/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/P")
file(RELATIVE_PATH CLDIM_CONFIG_UP "/P/${CMAKE_INSTALL_LIBDIR}/cmake/cldim" "/P")
configure_file(${CMAKE_SOURCE_DIR}/cmake/cldim.pc.in ${CMAKE_BINARY_DIR}/cldim.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/cldim.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

set(CLDIM_SHARED_FILE libcldim.so.${PROJECT_VERSION})
set(CLDIM_SONAME libcldim.so.${CLDIM_SOVERSION})
configure_file(${CMAKE_SOURCE_DIR}/cmake/cldimConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cldimConfig.cmake @ONLY)
include(CMakePackageConfigHelpers)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cldimConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cldimConfig.cmake ${CMAKE_BINARY_DIR}/cldimConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/cldim)

# man page: the overview and every command's --help, generated after the tool.
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/cldim.1
  COMMAND ${CMAKE_COMMAND} -DCLI=$<TARGET_FILE:cldim_cli> -DOUT=${CMAKE_BINARY_DIR}/cldim.1
          -DVERSION=${PROJECT_VERSION} -P ${CMAKE_SOURCE_DIR}/cmake/manpage.cmake
  DEPENDS cldim_cli ${CMAKE_SOURCE_DIR}/cmake/manpage.cmake VERBATIM)
add_custom_target(cldim_man ALL DEPENDS ${CMAKE_BINARY_DIR}/cldim.1)
install(FILES ${CMAKE_BINARY_DIR}/cldim.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
