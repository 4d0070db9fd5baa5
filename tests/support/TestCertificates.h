#pragma once

#include <string>

namespace sideband::testing {

// A throw-away CA and a 127.0.0.1/localhost server certificate signed by it, in a temporary
// directory that is removed with the object. Made by tools/make-test-certs.sh.
class TestCertificates {
public:
    TestCertificates();
    ~TestCertificates();
    TestCertificates(const TestCertificates&) = delete;
    TestCertificates& operator=(const TestCertificates&) = delete;

    std::string caFile() const { return dir_ + "/ca.pem"; }
    std::string certFile() const { return dir_ + "/server.pem"; }
    std::string keyFile() const { return dir_ + "/server.key"; }
    const std::string& dir() const { return dir_; }

    // One set per test process: generating costs ~50 ms.
    static const TestCertificates& shared();

private:
    std::string dir_;
};

// A fresh temporary directory, removed with the object.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

} // namespace sideband::testing
