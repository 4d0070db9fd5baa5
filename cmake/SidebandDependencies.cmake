# Every third-party dependency comes from Debian's packages (see README "Install").

# Debian's Poco CMake files make Poco::DataPostgreSQL link to PostgreSQL::client, a target they
# never define; CMake's FindPostgreSQL calls it PostgreSQL::PostgreSQL.
find_package(PostgreSQL REQUIRED)
if(NOT TARGET PostgreSQL::client)
  add_library(PostgreSQL::client INTERFACE IMPORTED)
  target_link_libraries(PostgreSQL::client INTERFACE PostgreSQL::PostgreSQL)
endif()

find_package(Poco REQUIRED COMPONENTS
  Foundation Net NetSSL Crypto JSON Util Data DataSQLite DataPostgreSQL Redis)
find_package(Boost REQUIRED COMPONENTS filesystem)
find_package(spdlog REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SYSTEMD IMPORTED_TARGET libsystemd)

# Sans-I/O protocol libraries (Debian: libhttp-parser-dev, libwslay-dev); the event loop does the I/O.
find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)
find_library(HTTP_PARSER_LIBRARY http_parser REQUIRED)
add_library(HttpParser::HttpParser UNKNOWN IMPORTED)
set_target_properties(HttpParser::HttpParser PROPERTIES IMPORTED_LOCATION ${HTTP_PARSER_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${HTTP_PARSER_INCLUDE_DIR})
find_package(wslay REQUIRED) # target: wslay
