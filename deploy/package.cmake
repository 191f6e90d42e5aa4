# The Debian package (cpack -G DEB in the build folder): everything
# cmake --install puts in place, with the dependencies dpkg-shlibdeps
# finds, a postinst that makes the system user ipsnet and a prerm that stops
# the daemon and the backup before a removal. Configure with
# -DCMAKE_INSTALL_PREFIX=/usr for a package to install on a server: the
# systemd units carry the prefix's paths.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ipsnet)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "ipsnet maintainers <ipsnet@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "shared IPS case journal of GGZ, municipalities and UWV")
set(CPACK_PACKAGE_DESCRIPTION
  "ipsnetd keeps one hash-chained SQLite journal of IPS (Individual Placement and Support) trajectories that GGZ institutions, municipalities and UWV work on together over mutual TLS; ipsnet is its command, libipsnet its client library. The systemd units run the daemon sandboxed and back it up every night.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Besides the libraries dpkg-shlibdeps finds: the postinst runs adduser,
# which a minimal Debian 12 lacks (its priority is important, not
# required); CPack adds this to the found ones.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
  ${PROJECT_SOURCE_DIR}/deploy/debian/prerm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
