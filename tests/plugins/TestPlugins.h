#pragma once

// Paths of the test plugins and a throw-away plugin directory to copy them into.
#include <boost/filesystem.hpp>

#include <fstream>
#include <sstream>
#include <string>

namespace sideband::plugins::testing {

inline std::string testPlugin(const std::string& name) {
    return std::string(SIDEBAND_TEST_PLUGIN_DIR) + "/" + name + ".so";
}
inline std::string shippedPlugin(const std::string& name) {
    return std::string(SIDEBAND_BUILD_PLUGIN_DIR) + "/" + name + ".so";
}

inline std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

class TempDir {
public:
    TempDir()
        : path_(boost::filesystem::temp_directory_path() / boost::filesystem::unique_path("sb-plugins-%%%%%%%%")) {
        boost::filesystem::create_directories(path_);
    }
    ~TempDir() {
        boost::system::error_code ignored;
        boost::filesystem::remove_all(path_, ignored);
    }
    std::string path() const { return path_.string(); }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

    // Installs `source` as `name`, the way a deploy would: write a temp file, then rename over.
    void install(const std::string& source, const std::string& name) const {
        auto tmp = path_ / (name + ".tmp");
        boost::filesystem::copy_file(source, tmp, boost::filesystem::copy_options::overwrite_existing);
        boost::filesystem::rename(tmp, path_ / name);
    }

private:
    boost::filesystem::path path_;
};

} // namespace sideband::plugins::testing
