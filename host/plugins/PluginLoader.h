#pragma once

#include "plugins/CallTools.h"
#include "sideband/sdk/loader/PluginLibrary.h"

#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace sideband::plugins {

using LoadedPluginPtr = std::shared_ptr<const sdk::loader::LoadedPlugin>;

// A plugin that could not be loaded for a tenant: one line naming tenant, file and cause.
class PluginLoadError : public ToolBuildError {
public:
    PluginLoadError(sdk::loader::LoadFailure reason, const std::string& message)
        : ToolBuildError(message), reason_(reason) {}
    sdk::loader::LoadFailure reason() const { return reason_; }
    const char* reasonName() const { return sdk::loader::reasonName(reason_); }

private:
    sdk::loader::LoadFailure reason_;
};

// Loads tenant plugins from the plugin directory (SIDEBAND_PLUGIN_DIR) and caches them by path, so
// a plugin is loaded once and shared by every call that uses it; a name once loaded is not resolved
// again until the next reload. Thread-safe; loads of different files run concurrently (no lock is
// held while plugin code runs), a second caller for a file being loaded waits for that load.
//
// Reload: reloadAll() empties the cache, so the next call loads the file as it is now - as a new
// library instance (sdk::loader::loadPlugin loads a private copy per load). Calls in progress hold
// their LoadedPluginPtr and keep the old library mapped until they end; nothing is unloaded under them.
class PluginLoader {
public:
    // `copyDirectory`: where private copies are written before dlopen (empty: a 0700 temp directory).
    explicit PluginLoader(std::string pluginDirectory, std::string copyDirectory = {});

    // Throws sdk::loader::LoadError. `fileName` is relative to the plugin directory; anything that
    // resolves outside it (absolute paths, "..", symlinks pointing out) is refused. A non-empty pin is
    // checked against the bytes loaded, also for a cached plugin.
    LoadedPluginPtr load(const std::string& fileName, const std::string& sha256Pin = {});

    void reloadAll();

    // The absolute path `fileName` names, or LoadError(OutsidePluginDir / FileMissing).
    std::string resolve(const std::string& fileName) const;
    const std::string& directory() const { return directory_; }
    std::size_t cachedCount() const;
    std::uint64_t generation() const;

private:
    std::string directory_;
    std::string copyDirectory_;
    // One load of one file: finished (successfully: failures are removed) or in progress.
    struct Entry {
        std::shared_future<LoadedPluginPtr> result;
        std::string pin; // what the loading caller pinned: its Sha256Mismatch is not another pin's
    };
    using EntryPtr = std::shared_ptr<Entry>;

    mutable std::mutex mutex_;
    std::map<std::string, EntryPtr> cache_;         // by resolved path: one library per file
    std::map<std::string, LoadedPluginPtr> byName_; // by the name a tenant gave, until the next reload
    std::uint64_t generation_ = 1;
};

} // namespace sideband::plugins
