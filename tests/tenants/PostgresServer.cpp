#include "PostgresServer.h"

#include "tenants/TenantStoreFactory.h"

#include <libpq-fe.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <unistd.h>

namespace sideband::testing {

namespace {

// Runs a shell command; its stdout without the trailing newline. Throws with the output on failure.
std::string run(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (!pipe) throw std::runtime_error("popen failed: " + command);
    std::array<char, 256> buffer{};
    while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe))
        out += buffer.data();
    if (::pclose(pipe) != 0) throw std::runtime_error("failed: " + command + "\n" + out);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
        out.pop_back();
    return out;
}

std::string script(const char* command, const std::string& dir) {
    return run(std::string(SIDEBAND_POSTGRES_SCRIPT) + " " + command + " " + dir);
}

// scheme://authority of a postgresql:// URL and its query ("" if none).
std::pair<std::string, std::string> serverAndQuery(const std::string& url) {
    const auto start = url.find("://");
    if (start == std::string::npos) throw std::invalid_argument("not a postgresql:// URL");
    const auto question = url.find('?');
    const auto slash = url.find('/', start + 3);
    const auto authorityEnd = std::min(slash, question);
    return {url.substr(0, authorityEnd), question == std::string::npos ? "" : url.substr(question + 1)};
}

} // namespace

PostgresConnection::PostgresConnection(const std::string& url) {
    const auto conninfo = tenants::postgreSqlOptions(url).connection + " connect_timeout=5";
    connection_ = PQconnectdb(conninfo.c_str());
    if (PQstatus(connection_) != CONNECTION_OK) {
        const std::string error = PQerrorMessage(connection_);
        PQfinish(connection_);
        throw std::runtime_error("connecting to " + tenants::redactStoreUrl(url) + " failed: " + error);
    }
}

PostgresConnection::~PostgresConnection() {
    PQfinish(connection_);
}

std::string PostgresConnection::query(const std::string& sql) {
    std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(connection_, sql.c_str()), &PQclear);
    const auto status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        throw std::runtime_error("\"" + sql + "\" failed: " + PQerrorMessage(connection_));
    if (status == PGRES_TUPLES_OK && PQntuples(result.get()) > 0 && PQnfields(result.get()) > 0)
        return PQgetvalue(result.get(), 0, 0);
    return "";
}

std::string postgresQuery(const std::string& url, const std::string& sql) {
    return PostgresConnection(url).query(sql);
}

PostgresServer::PostgresServer() {
    // Short (the socket lives in it) and in /tmp, which the postgres user can reach.
    char pattern[] = "/tmp/sbpg-XXXXXX";
    if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    try {
        url_ = script("start", dir_);
    } catch (...) {
        std::system(("rm -rf " + dir_).c_str());
        throw;
    }
    url_ = url_.substr(url_.rfind('\n') + 1); // the URL is the last line
}

PostgresServer::~PostgresServer() {
    try {
        stop();
    } catch (...) {
    }
    std::system(("rm -rf " + dir_).c_str());
}

void PostgresServer::stop() {
    script("stop", dir_);
}

void PostgresServer::start() {
    const auto again = script("start", dir_);
    if (again.substr(again.rfind('\n') + 1) != url_) throw std::runtime_error("postgres came back as " + again);
}

const std::string& sharedPostgresUrl() {
    static const std::string url = [] {
        if (const char* env = std::getenv("SIDEBAND_TEST_POSTGRES_URL"); env && *env) return std::string(env);
        // ctest's fixture server, unless the file is left from a run whose server is gone.
        std::ifstream file(SIDEBAND_POSTGRES_FIXTURE_URL_FILE);
        std::string fixtureUrl;
        if (std::getline(file, fixtureUrl) && !fixtureUrl.empty()) {
            try {
                postgresQuery(fixtureUrl, "SELECT 1");
                return fixtureUrl;
            } catch (const std::exception&) {
            }
        }
        try {
            static PostgresServer privateServer; // stopped when the process exits
            return privateServer.url();
        } catch (const std::exception& e) {
            throw std::runtime_error(std::string("no PostgreSQL for the tests: SIDEBAND_TEST_POSTGRES_URL is unset, "
                                                 "there is no ctest fixture server, and starting one with ") +
                                     SIDEBAND_POSTGRES_SCRIPT + " failed: " + e.what());
        }
    }();
    return url;
}

TestDatabase::TestDatabase(const std::string& serverUrl) : serverUrl_(serverUrl) {
    static std::atomic<int> counter{0};
    std::random_device random;
    name_ =
        "sbt_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(random() % 100000);
    // FILE_COPY: twice as fast as the default WAL_LOG for a small template.
    postgresQuery(serverUrl_, "CREATE DATABASE " + name_ + " STRATEGY = FILE_COPY");
}

TestDatabase::~TestDatabase() {
    try {
        postgresQuery(serverUrl_, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
    }
}

std::string TestDatabase::url(const std::string& options) const {
    const auto [server, query] = serverAndQuery(serverUrl_);
    std::string all = query;
    if (!options.empty()) all += (all.empty() ? "" : "&") + options;
    return server + "/" + name_ + (all.empty() ? "" : "?" + all);
}

void TestDatabase::execute(const std::string& sql) const {
    postgresQuery(url(), sql);
}

std::string TestDatabase::queryValue(const std::string& sql) const {
    return postgresQuery(url(), sql);
}

} // namespace sideband::testing
