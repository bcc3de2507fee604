# cmake -P script behind the package_consumer test (see CMakeLists.txt for the
# variables it gets). Every step must succeed; the first failure stops it with
# the step's name.
cmake_minimum_required(VERSION 3.25)

foreach(var SHOAL_BUILD_DIR SHOAL_VERSION SHOAL_LIBDIR SHOAL_INCLUDEDIR CONSUMER_SOURCE_DIR WORK_DIR
            GENERATOR C_COMPILER CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_package_test.cmake: ${var} is not set")
  endif()
endforeach()

set(prefix ${WORK_DIR}/prefix)
set(stage ${WORK_DIR}/stage)
string(REPLACE "." ";" _parts "${SHOAL_VERSION}")
list(GET _parts 0 _major)
list(GET _parts 1 _minor)
list(GET _parts 2 _patch)
math(EXPR version_code "${_major} * 10000 + ${_minor} * 100 + ${_patch}")

# Runs one step; stops the test with its name when it fails.
function(step name)
  message(STATUS "---- ${name}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "package test: step '${name}' failed (${rc}): ${ARGN}")
  endif()
endfunction()

# Same as step, returning stdout (stripped) in out_var.
function(step_output name out_var)
  message(STATUS "---- ${name}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  message(STATUS "${out}")
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "package test: step '${name}' failed (${rc}): ${ARGN}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

# Path of a consumer executable for single- and multi-config generators.
function(find_executable dir name out_var)
  foreach(candidate ${dir}/${name} ${dir}/${SHOAL_CONFIG}/${name})
    if(EXISTS ${candidate} AND NOT IS_DIRECTORY ${candidate})
      set(${out_var} ${candidate} PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "package test: ${name} was not built in ${dir}")
endfunction()

# Configures, builds and runs the consumer with the given package settings.
function(build_consumer label expected_dir)
  set(bin ${WORK_DIR}/consumer-${label})
  set(config_args)
  if(SHOAL_CONFIG)
    list(APPEND config_args -DCMAKE_BUILD_TYPE=${SHOAL_CONFIG})
  endif()
  if(MAKE_PROGRAM)
    list(APPEND config_args -DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM})
  endif()
  step("configure consumer (${label})" ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${bin}
       -G ${GENERATOR} -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
       -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DSHOAL_EXPECTED_VERSION=${SHOAL_VERSION}
       -DSHOAL_EXPECTED_DIR=${expected_dir} ${config_args} ${ARGN})
  step("build consumer (${label})" ${CMAKE_COMMAND} --build ${bin} --config ${SHOAL_CONFIG})
  foreach(exe consumer_c consumer_cxx)
    find_executable(${bin} ${exe} path)
    # No LD_LIBRARY_PATH: the consumer must find libshoal through its RPATH.
    step("run ${exe} (${label})" ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH ${path})
  endforeach()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# ---- install into a staging prefix, then move it: the installed package must
# not depend on where it was installed.
set(install_args)
if(SHOAL_CONFIG)
  set(install_args --config ${SHOAL_CONFIG})
endif()
step("install" ${CMAKE_COMMAND} --install ${SHOAL_BUILD_DIR} --prefix ${stage} ${install_args})
file(RENAME ${stage} ${prefix})

foreach(f ${SHOAL_INCLUDEDIR}/shoal/shoal.h ${SHOAL_INCLUDEDIR}/shoal/shoal.hpp
          ${SHOAL_INCLUDEDIR}/shoal/version.h ${SHOAL_INCLUDEDIR}/shoal/build_config.h
          ${SHOAL_LIBDIR}/libshoal.so ${SHOAL_LIBDIR}/cmake/shoal/shoalConfig.cmake
          ${SHOAL_LIBDIR}/cmake/shoal/shoalConfigVersion.cmake
          ${SHOAL_LIBDIR}/cmake/shoal/shoalTargets.cmake ${SHOAL_LIBDIR}/pkgconfig/shoal.pc)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "package test: the install lacks ${f}")
  endif()
endforeach()
file(GLOB_RECURSE package_files ${prefix}/${SHOAL_LIBDIR}/cmake/*.cmake
     ${prefix}/${SHOAL_LIBDIR}/pkgconfig/*.pc)
get_filename_component(source_dir ${CONSUMER_SOURCE_DIR}/../../.. ABSOLUTE)
foreach(f IN LISTS package_files)
  file(READ ${f} text)
  foreach(forbidden ${SHOAL_BUILD_DIR} ${source_dir})
    string(FIND "${text}" "${forbidden}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "package test: ${f} refers to ${forbidden}; the package is not relocatable")
    endif()
  endforeach()
endforeach()

# ---- 1: the installed CMake package, found through CMAKE_PREFIX_PATH
build_consumer(install ${prefix}/${SHOAL_LIBDIR}/cmake/shoal -DCMAKE_PREFIX_PATH=${prefix})

# ---- 2: the build tree's CMake package
build_consumer(buildtree ${SHOAL_BUILD_DIR} -Dshoal_DIR=${SHOAL_BUILD_DIR})

# ---- 3: pkg-config and the compilers, no CMake package involved
if(NOT PKG_CONFIG)
  message("SHOAL_PACKAGE_TEST_SKIPPED: pkg-config was not found when shoal was configured; "
          "the CMake package parts passed")
  return()
endif()
set(ENV{PKG_CONFIG_PATH} ${prefix}/${SHOAL_LIBDIR}/pkgconfig)
unset(ENV{PKG_CONFIG_SYSROOT_DIR})
step_output("pkg-config --modversion" modversion ${PKG_CONFIG} --modversion shoal)
if(NOT modversion STREQUAL SHOAL_VERSION)
  message(FATAL_ERROR "package test: pkg-config reports version ${modversion}, expected ${SHOAL_VERSION}")
endif()
step_output("pkg-config --cflags --libs" flags ${PKG_CONFIG} --cflags --libs shoal)
step_output("pkg-config --static --libs" static_flags ${PKG_CONFIG} --static --libs shoal)
step_output("pkg-config --variable=libdir" pc_libdir ${PKG_CONFIG} --variable=libdir shoal)
get_filename_component(pc_libdir "${pc_libdir}" REALPATH)
get_filename_component(real_libdir "${prefix}/${SHOAL_LIBDIR}" REALPATH)
if(NOT pc_libdir STREQUAL real_libdir)
  message(FATAL_ERROR "package test: shoal.pc's libdir is ${pc_libdir}, expected ${real_libdir}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")

set(pc_dir ${WORK_DIR}/consumer-pkgconfig)
file(MAKE_DIRECTORY ${pc_dir})
set(strict -Wall -Wextra -Wpedantic -Werror -DSHOAL_EXPECTED_VERSION_CODE=${version_code})
step("compile consumer_c (pkg-config)" ${C_COMPILER} ${strict} ${CONSUMER_SOURCE_DIR}/main.c
     ${flags} -o ${pc_dir}/consumer_c)
step("compile consumer_cxx (pkg-config)" ${CXX_COMPILER} -std=c++20 ${strict}
     ${CONSUMER_SOURCE_DIR}/main.cc ${flags} -o ${pc_dir}/consumer_cxx)
foreach(exe consumer_c consumer_cxx)
  step("run ${exe} (pkg-config)" ${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${real_libdir}
       ${pc_dir}/${exe})
endforeach()
message(STATUS "package test: install tree, build tree and pkg-config consumers all passed")
