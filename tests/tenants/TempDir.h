#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace sideband::testing {

// A fresh directory under TMPDIR, removed with everything in it when the test ends.
class TempDir {
public:
    TempDir() {
        const auto base = std::filesystem::temp_directory_path() / "sideband-tenants-XXXXXX";
        std::string pattern = base.string();
        if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ignored);
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;

    const std::string &path() const { return path_; }
    std::string file(const std::string &name) const { return path_ + "/" + name; }

    // Writes `text` to `name` (creating parent directories) and returns the full path.
    std::string write(const std::string &name, const std::string &text) const {
        const auto full = file(name);
        std::filesystem::create_directories(std::filesystem::path(full).parent_path());
        std::ofstream(full, std::ios::binary | std::ios::trunc) << text;
        return full;
    }

private:
    std::string path_;
};

} // namespace sideband::testing
