#include "TestCertificates.h"

#include <Poco/File.h>
#include <Poco/Process.h>
#include <Poco/TemporaryFile.h>

#include <stdexcept>

namespace sideband::testing {

TempDir::TempDir() : path_(Poco::TemporaryFile::tempName()) { Poco::File(path_).createDirectories(); }

TempDir::~TempDir() {
    try {
        Poco::File(path_).remove(true);
    } catch (...) {
    }
}

TestCertificates::TestCertificates() : dir_(Poco::TemporaryFile::tempName()) {
    auto process = Poco::Process::launch("/bin/bash", {SIDEBAND_MAKE_TEST_CERTS, dir_});
    if (process.wait() != 0) throw std::runtime_error("make-test-certs.sh failed");
}

TestCertificates::~TestCertificates() {
    try {
        Poco::File(dir_).remove(true);
    } catch (...) {
    }
}

const TestCertificates& TestCertificates::shared() {
    static const TestCertificates certificates;
    return certificates;
}

} // namespace sideband::testing
