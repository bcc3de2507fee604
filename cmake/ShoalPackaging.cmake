# Install rules, the CMake package (install tree and build tree) and shoal.pc.
# Included at the end of the top-level CMakeLists.txt, after every
# subdirectory has added its sources and link libraries to `shoal`, so the
# link line read here is complete.
#
# Every non-API symbol stays visible for now: the unit tests link against
# internal classes (shoal::Error, the transports, the reduce kernels) through
# the shared library. Hiding them (-fvisibility=hidden plus an export macro on
# the C API) needs the tests to link an internal static library first.

set(SHOAL_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/shoal)
set(SHOAL_PKGCONFIG_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# ---- RPATH: an installed libshoal finds its optional dependencies outside the
# default search path (CUDA under /usr/local/cuda) without LD_LIBRARY_PATH.
if(NOT DEFINED CMAKE_INSTALL_RPATH_USE_LINK_PATH)
  set_target_properties(shoal PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)
endif()

# ---- library and headers
install(TARGETS shoal
  EXPORT shoalTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Runtime NAMELINK_COMPONENT Development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/shoal/
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/shoal COMPONENT Development
  FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")
install(FILES ${PROJECT_BINARY_DIR}/include/shoal/version.h
              ${PROJECT_BINARY_DIR}/include/shoal/build_config.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/shoal COMPONENT Development)

# The executables in tools/ carry their own install() rules there.

# ---- CMake package. shoal is a shared library whose dependencies are all
# PRIVATE, so the exported target carries none of them and shoalConfig.cmake
# needs no find_dependency().
math(EXPR SHOAL_VERSION_CODE
     "${PROJECT_VERSION_MAJOR} * 10000 + ${PROJECT_VERSION_MINOR} * 100 + ${PROJECT_VERSION_PATCH}")
foreach(_dep VERBS UCX HWLOC CUDA)
  if(SHOAL_WITH_${_dep}_ENABLED)
    set(SHOAL_PACKAGE_WITH_${_dep} TRUE)
  else()
    set(SHOAL_PACKAGE_WITH_${_dep} FALSE)
  endif()
endforeach()

install(EXPORT shoalTargets NAMESPACE shoal:: DESTINATION ${SHOAL_CMAKE_INSTALL_DIR}
        COMPONENT Development)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/shoalConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/install/shoalConfig.cmake
  INSTALL_DESTINATION ${SHOAL_CMAKE_INSTALL_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/shoalConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/install/shoalConfig.cmake
              ${PROJECT_BINARY_DIR}/shoalConfigVersion.cmake
  DESTINATION ${SHOAL_CMAKE_INSTALL_DIR} COMPONENT Development)

# Build tree: find_package(shoal CONFIG) with shoal_DIR=<build dir> uses the
# uninstalled library and the source/binary include directories.
export(EXPORT shoalTargets NAMESPACE shoal:: FILE ${PROJECT_BINARY_DIR}/shoalTargets.cmake)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/shoalConfig.cmake.in
  ${PROJECT_BINARY_DIR}/shoalConfig.cmake
  INSTALL_DESTINATION ${PROJECT_BINARY_DIR}
  INSTALL_PREFIX ${PROJECT_BINARY_DIR})

# ---- pkg-config. Libs.private is derived from shoal's real link line, so it
# follows whatever the transports link without a second list to maintain.

# Appends the linker flags for one link item (a target, a path, a name or a
# flag) to the list named by out_var; follows imported targets' interfaces.
function(_shoal_pc_flags item out_var)
  set(flags ${${out_var}})
  if(item MATCHES "^::@")  # scope markers CMake adds around cross-directory links
    return()
  endif()
  if(item MATCHES "^\\$<LINK_ONLY:(.*)>$")
    set(item "${CMAKE_MATCH_1}")
  endif()
  if(item MATCHES "^\\$<")
    message(STATUS "shoal.pc: ignoring generator expression ${item} in Libs.private")
    return()
  endif()
  if(TARGET ${item})
    get_target_property(aliased ${item} ALIASED_TARGET)
    if(aliased)
      set(item ${aliased})
    endif()
    get_property(seen GLOBAL PROPERTY SHOAL_PC_SEEN_TARGETS)
    if(item IN_LIST seen)
      return()
    endif()
    set_property(GLOBAL APPEND PROPERTY SHOAL_PC_SEEN_TARGETS ${item})
    get_target_property(type ${item} TYPE)
    get_target_property(imported ${item} IMPORTED)
    if(NOT type STREQUAL "INTERFACE_LIBRARY" AND imported)
      set(location "")
      if(CMAKE_BUILD_TYPE)
        string(TOUPPER "${CMAKE_BUILD_TYPE}" config)
        get_target_property(location ${item} IMPORTED_LOCATION_${config})
      endif()
      if(NOT location)
        get_target_property(location ${item} IMPORTED_LOCATION)
      endif()
      if(NOT location)
        get_target_property(configs ${item} IMPORTED_CONFIGURATIONS)
        if(configs)
          list(GET configs 0 config)
          get_target_property(location ${item} IMPORTED_LOCATION_${config})
        endif()
      endif()
      if(location)
        _shoal_pc_flags("${location}" flags)
      endif()
    elseif(NOT imported)
      message(STATUS "shoal.pc: ${item} is built here, not added to Libs.private")
    endif()
    get_target_property(deps ${item} INTERFACE_LINK_LIBRARIES)
    if(deps)
      foreach(dep IN LISTS deps)
        _shoal_pc_flags("${dep}" flags)
      endforeach()
    endif()
    get_target_property(options ${item} INTERFACE_LINK_OPTIONS)
    if(options)
      list(APPEND flags ${options})
    endif()
  elseif(item MATCHES "^(.*)::(.*)$")
    # A namespaced target not visible in this directory (found inside a
    # subdirectory): its library name is the best guess available.
    message(STATUS "shoal.pc: target ${item} not visible here, assuming -l${CMAKE_MATCH_2}")
    list(APPEND flags "-l${CMAKE_MATCH_2}")
  elseif(IS_ABSOLUTE "${item}")
    get_filename_component(dir "${item}" DIRECTORY)
    get_filename_component(name "${item}" NAME)
    if(name MATCHES "^lib(.+)\\.(so|a)(\\.[0-9.]+)?$")
      list(FIND CMAKE_C_IMPLICIT_LINK_DIRECTORIES "${dir}" implicit)
      if(implicit EQUAL -1)
        list(APPEND flags "-L${dir}")
      endif()
      list(APPEND flags "-l${CMAKE_MATCH_1}")
    else()
      list(APPEND flags "${item}")
    endif()
  elseif(item MATCHES "^-")
    list(APPEND flags "${item}")
  elseif(NOT item STREQUAL "")
    list(APPEND flags "-l${item}")
  endif()
  set(${out_var} ${flags} PARENT_SCOPE)
endfunction()

set_property(GLOBAL PROPERTY SHOAL_PC_SEEN_TARGETS "")
set(_shoal_pc_libs "")
get_target_property(_shoal_link_libraries shoal LINK_LIBRARIES)
if(_shoal_link_libraries)
  foreach(_item IN LISTS _shoal_link_libraries)
    _shoal_pc_flags("${_item}" _shoal_pc_libs)
  endforeach()
endif()
if(CMAKE_THREAD_LIBS_INIT)
  list(APPEND _shoal_pc_libs ${CMAKE_THREAD_LIBS_INIT})
endif()
list(REMOVE_DUPLICATES _shoal_pc_libs)
list(JOIN _shoal_pc_libs " " SHOAL_PC_LIBS_PRIVATE)

# Relative install directories give a relocatable .pc (paths from ${pcfiledir}),
# which is what `cmake --install --prefix <elsewhere>` needs.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(SHOAL_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(SHOAL_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(SHOAL_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _shoal_pc_up /shoal_prefix/${SHOAL_PKGCONFIG_INSTALL_DIR} /shoal_prefix)
  string(REGEX REPLACE "/$" "" _shoal_pc_up "${_shoal_pc_up}")
  set(SHOAL_PC_PREFIX "\${pcfiledir}/${_shoal_pc_up}")
  set(SHOAL_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(SHOAL_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/shoal.pc.in ${PROJECT_BINARY_DIR}/shoal.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/shoal.pc DESTINATION ${SHOAL_PKGCONFIG_INSTALL_DIR}
        COMPONENT Development)
