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
    const auto checkedPin = [&](const LoadedPluginPtr& plugin) {
        if (!pin.empty() && plugin->sha256 != pin)
            throw LoadError(LoadFailure::Sha256Mismatch,
                            "plugin file " + plugin->path + " has SHA-256 " + plugin->sha256 + ", pinned " + pin);
        return plugin;
    };
    // Every call asks for its tenant's plugin: a name loaded since the last reload is served as it
    // is, without resolving the path again (a dozen stat(2) calls and a getcwd per call).
    {
        std::lock_guard lock(mutex_);
        if (auto named = byName_.find(fileName); named != byName_.end()) return checkedPin(named->second);
    }
    const std::string path = resolve(fileName);

    // The lock guards the maps only: loadPlugin runs the plugin's factory and tools(), which may take
    // long, and must not hold up other tenants' loads.
    for (;;) {
        EntryPtr entry;
        std::promise<LoadedPluginPtr> promise;
        bool loading = false;
        {
            std::lock_guard lock(mutex_);
            if (auto found = cache_.find(path); found != cache_.end()) {
                entry = found->second;
            } else {
                entry = std::make_shared<Entry>(Entry{promise.get_future().share(), pin});
                cache_.emplace(path, entry);
                loading = true;
            }
        }
        // Remembers the name only if the entry is still the cached one (no reload meanwhile).
        const auto remember = [&](const LoadedPluginPtr& loaded) {
            std::lock_guard lock(mutex_);
            if (auto found = cache_.find(path); found != cache_.end() && found->second == entry)
                byName_.emplace(fileName, loaded);
        };
        if (loading) {
            try {
                auto loaded = std::make_shared<const sdk::loader::LoadedPlugin>(
                    sdk::loader::loadPlugin(path, {pin, copyDirectory_}));
                remember(loaded);
                promise.set_value(loaded);
                return loaded;
            } catch (...) {
                // Failures are not cached: a fixed file is picked up by the next call without a reload.
                {
                    std::lock_guard lock(mutex_);
                    if (auto found = cache_.find(path); found != cache_.end() && found->second == entry)
                        cache_.erase(found);
                }
                // The waiters get a copy of a LoadError, not the exception in flight here: that one is
                // this caller's, alive by a reference count inside libstdc++ that ThreadSanitizer
                // cannot see, and the last waiter would free it under this caller's catch block.
                try {
                    throw;
                } catch (const LoadError& e) {
                    promise.set_exception(std::make_exception_ptr(LoadError(e)));
                } catch (...) {
                    promise.set_exception(std::current_exception());
                }
                throw;
            }
        }
        LoadedPluginPtr loaded;
        try {
            loaded = entry->result.get(); // waits for the caller that is loading it
        } catch (const LoadError& e) {
            // Another pin's mismatch says nothing about ours: load with our own.
            // Every waiter gets its own copy, not the one exception object shared_future rethrows to
            // all of them (whose reference count lives in libstdc++, out of ThreadSanitizer's sight).
            if (e.reason() != LoadFailure::Sha256Mismatch || entry->pin == pin) throw LoadError(e);
            continue;
        }
        remember(loaded);
        return checkedPin(loaded);
    }
}

void PluginLoader::reloadAll() {
    std::map<std::string, EntryPtr> old;
    std::map<std::string, LoadedPluginPtr> oldNames;
    {
        std::lock_guard lock(mutex_);
        old.swap(cache_);
        oldNames.swap(byName_);
        ++generation_;
    }
    // `old` is released here, outside the lock: libraries no call uses any more are unloaded now.
}

std::size_t PluginLoader::cachedCount() const {
    std::lock_guard lock(mutex_);
    std::size_t loaded = 0;
    for (const auto& [path, entry] : cache_)
        loaded += entry->result.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    return loaded;
}

std::uint64_t PluginLoader::generation() const {
    std::lock_guard lock(mutex_);
    return generation_;
}

} // namespace sideband::plugins
