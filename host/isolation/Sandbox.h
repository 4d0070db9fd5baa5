#pragma once

#include <cstdint>
#include <string>
#include <vector>

// The sandbox a tenant's plugin-runner process applies to itself, after startup and before it loads
// the tenant's plugin. Debian-only building blocks: rlimits, capabilities, no_new_privs, Landlock
// (raw syscalls, best effort by ABI) and a libseccomp allow-list.
namespace sideband::isolation {

struct SandboxPolicy {
    std::string workDir; // the plugin's own directory: read+write+create allowed beneath it; the process chdir()s here
    std::vector<std::string> readOnlyPaths; // absolute; e.g. the plugin .so's directory plus defaultReadOnlyPaths();
                                            // missing ones are skipped (and listed in the report)
    bool allowNetwork = false; // true: IP sockets (UDP too, for DNS) and outbound TCP connect, never TCP bind;
                               // false: no AF_INET/AF_INET6 socket at all
    std::uint64_t addressSpaceBytes = 1ull << 30; // RLIMIT_AS (0: left as is, e.g. under AddressSanitizer)
    std::uint64_t cpuSeconds = 0;                 // RLIMIT_CPU (0: left as is, i.e. unlimited)
    std::uint64_t openFiles = 256;                // RLIMIT_NOFILE (0: left as is)
    std::uint64_t processes = 0; // RLIMIT_NPROC (0: left as is); counts every process of the uid, so only
                                 // useful when the runner has a uid of its own
    std::uint64_t fileSizeBytes = 256ull << 20; // RLIMIT_FSIZE (0: left as is); SIGXFSZ is ignored so a write
                                                // past it fails with EFBIG instead of killing the process
    bool disableCoreDumps = true;               // RLIMIT_CORE 0: a core would hold tenant data
    int maxLandlockAbi = 0; // 0: the kernel's; N: use at most ABI N (how the tests cover older kernels)
};

struct SandboxReport {
    bool noNewPrivs = false;
    bool capabilitiesDropped = false;
    bool seccomp = false;
    int landlockAbi = 0; // the ABI used; 0: Landlock unavailable (kernel without it, or disabled at boot)
    bool landlockFilesystem = false;
    bool landlockNetwork = false;          // TCP bind (and connect unless allowNetwork) denied; ABI >= 4
    bool landlockSignalScope = false;      // signals and abstract unix sockets scoped to the sandbox; ABI >= 6
    std::vector<std::string> skippedPaths; // readOnlyPaths that did not exist
    std::string summary() const;
};

// System paths ordinary plugin code (glibc, libstdc++, OpenSSL, DNS, time zones) needs to read.
std::vector<std::string> defaultReadOnlyPaths();

// The highest Landlock ABI the running kernel supports, 0 if none.
int landlockAbi();

// Applies, in order: rlimits, chdir(workDir), drop all capabilities (bounding set too, if permitted),
// PR_SET_NO_NEW_PRIVS, Landlock (filesystem: read-only beneath readOnlyPaths and /proc/self, read-write
// beneath workDir, nothing else; network: deny TCP bind, and connect unless allowNetwork; scope: signals
// and abstract unix sockets), then the seccomp allow-list. Must be called while the process has a
// single thread: capabilities, no_new_privs and Landlock apply per thread. Throws std::runtime_error
// naming the step for hard failures; a missing or older Landlock is reported, not thrown.
SandboxReport applySandbox(const SandboxPolicy& policy);

} // namespace sideband::isolation
