# Run by `cmake --install` (install(SCRIPT) in CMakeLists.txt): the systemd
# units from dist/systemd/*.in, with @TIER_BINDIR@ the bin directory of the
# prefix given at install time (`--prefix /usr` gives /usr/bin/tier-push),
# into TIER_UNIT_DIR (relative: under the prefix); file(INSTALL) adds DESTDIR.
# Set by install(CODE) before: TIER_UNIT_SOURCES, TIER_UNIT_DIR,
# TIER_UNIT_BINDIR, TIER_UNIT_BUILD.
if(IS_ABSOLUTE "${TIER_UNIT_BINDIR}")
  set(TIER_BINDIR "${TIER_UNIT_BINDIR}")
else()
  set(TIER_BINDIR "${CMAKE_INSTALL_PREFIX}/${TIER_UNIT_BINDIR}")
endif()
if(IS_ABSOLUTE "${TIER_UNIT_DIR}")
  set(dir "${TIER_UNIT_DIR}")
else()
  set(dir "${CMAKE_INSTALL_PREFIX}/${TIER_UNIT_DIR}")
endif()
# a directory of this install's own: two installs to different prefixes
# at once (tests do) must not take each other's units
string(RANDOM LENGTH 12 tag)
set(work "${TIER_UNIT_BUILD}/install-${tag}")
set(units)
foreach(src ${TIER_UNIT_SOURCES})
  get_filename_component(name "${src}" NAME)
  string(REGEX REPLACE "\\.in$" "" name "${name}")
  configure_file("${src}" "${work}/${name}" @ONLY)
  list(APPEND units "${work}/${name}")
endforeach()
file(INSTALL DESTINATION "${dir}" TYPE FILE
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES ${units})
file(REMOVE_RECURSE "${work}")
