#include "plugins/PluginLoader.h"

#include <boost/filesystem.hpp>

#include <algorithm>
#include <cctype>

namespace sideband::plugins {
namespace fs = boost::filesystem;
using sdk::loader::LoadError;
using sdk::loader::LoadFailure;

PluginLoader::PluginLoader(std::string pluginDirectory, std::string copyDirectory)
    : directory_(std::move(pluginDirectory)), copyDirectory_(std::move(copyDirectory)) {}

std::string PluginLoader::resolve(const std::string& fileName) const {
    if (fileName.empty()) throw LoadError(LoadFailure::FileMissing, "no plugin file named");
    boost::system::error_code ec;
    const fs::path dir = fs::canonical(directory_, ec);
    if (ec) throw LoadError(LoadFailure::FileMissing, "plugin directory " + directory_ + " does not exist");
    const fs::path named(fileName);
    // Tenant configs are data, possibly edited by people other than the platform team: they may only
    // choose among the libraries the platform put into the plugin directory.
    if (named.is_absolute())
        throw LoadError(LoadFailure::OutsidePluginDir,
                        "plugin " + fileName + " is an absolute path; name a file inside " + directory_);
    const fs::path resolved = fs::weakly_canonical(dir / named, ec); // follows symlinks
    if (ec) throw LoadError(LoadFailure::FileMissing, "plugin " + fileName + " cannot be resolved: " + ec.message());
    auto d = dir.begin();
    auto r = resolved.begin();
    for (; d != dir.end(); ++d, ++r) {
        if (r == resolved.end() || *d != *r)
            throw LoadError(LoadFailure::OutsidePluginDir,
                            "plugin " + fileName + " resolves to " + resolved.string() + ", outside " + dir.string());
    }
    if (r == resolved.end())
        throw LoadError(LoadFailure::OutsidePluginDir, "plugin " + fileName + " names the plugin directory itself");
    return resolved.string();
}

LoadedPluginPtr PluginLoader::load(const std::string& fileName, const std::string& sha256Pin) {
    std::string pin = sha256Pin;
    std::transform(pin.begin(), pin.end(), pin.begin(), [](unsigned char c) { return std::tolower(c); });
    const std::string path = resolve(fileName);

    std::lock_guard lock(mutex_); // loads are rare (first call after start or reload); keep them simple
    if (auto cached = cache_.find(path); cached != cache_.end()) {
        if (!pin.empty() && cached->second->sha256 != pin)
            throw LoadError(LoadFailure::Sha256Mismatch,
                            "plugin file " + path + " has SHA-256 " + cached->second->sha256 + ", pinned " + pin);
        return cached->second;
    }
    // Failures are not cached: a fixed file is picked up by the next call without a reload.
    auto loaded =
        std::make_shared<const sdk::loader::LoadedPlugin>(sdk::loader::loadPlugin(path, {pin, copyDirectory_}));
    cache_.emplace(path, loaded);
    return loaded;
}

void PluginLoader::reloadAll() {
    std::map<std::string, LoadedPluginPtr> old;
    {
        std::lock_guard lock(mutex_);
        old.swap(cache_);
        ++generation_;
    }
    // `old` is released here, outside the lock: libraries no call uses any more are unloaded now.
}

std::size_t PluginLoader::cachedCount() const {
    std::lock_guard lock(mutex_);
    return cache_.size();
}

std::uint64_t PluginLoader::generation() const {
    std::lock_guard lock(mutex_);
    return generation_;
}

} // namespace sideband::plugins
