#include "isolation/Sandbox.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <stdexcept>

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/netlink.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// Debian 12's kernel headers (6.1) stop at Landlock ABI 2; the kernel may be newer. These values are
// the kernel's stable ABI (include/uapi/linux/landlock.h).
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SIDEBAND_SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIDEBAND_SANDBOX_ASAN 1
#endif
#endif
#ifndef SIDEBAND_SANDBOX_ASAN
#define SIDEBAND_SANDBOX_ASAN 0
#endif

namespace sideband::isolation {
namespace {

[[noreturn]] void fail(const std::string& step, int error) {
    throw std::runtime_error("sandbox: " + step + ": " + std::strerror(error));
}
[[noreturn]] void fail(const std::string& step) {
    fail(step, errno);
}

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

// -1 when /proc is not readable (the check is then skipped).
int threadCount() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
    return -1;
}

// ---- rlimits ----

void setLimit(int resource, const char* name, rlim_t value) {
    rlimit current{};
    if (::getrlimit(resource, &current) != 0) fail(std::string("getrlimit(") + name + ")");
    // Without CAP_SYS_RESOURCE the hard limit cannot be raised: clamp rather than fail.
    if (current.rlim_max != RLIM_INFINITY && value > current.rlim_max) value = current.rlim_max;
    // Soft and hard both, so the plugin cannot raise it again.
    const rlimit next{value, value};
    if (::setrlimit(resource, &next) != 0) fail(std::string("setrlimit(") + name + ")");
}

void applyLimits(const SandboxPolicy& policy) {
    if (policy.addressSpaceBytes) setLimit(RLIMIT_AS, "RLIMIT_AS", policy.addressSpaceBytes);
    if (policy.cpuSeconds) setLimit(RLIMIT_CPU, "RLIMIT_CPU", policy.cpuSeconds);
    if (policy.openFiles) setLimit(RLIMIT_NOFILE, "RLIMIT_NOFILE", policy.openFiles);
    if (policy.processes) setLimit(RLIMIT_NPROC, "RLIMIT_NPROC", policy.processes);
    if (policy.fileSizeBytes) {
        setLimit(RLIMIT_FSIZE, "RLIMIT_FSIZE", policy.fileSizeBytes);
        // A write past the limit then fails with EFBIG, an error the plugin can report.
        std::signal(SIGXFSZ, SIG_IGN);
    }
    if (policy.disableCoreDumps) setLimit(RLIMIT_CORE, "RLIMIT_CORE", 0);
}

// ---- capabilities ----

void dropCapabilities() {
    // The bounding set first: dropping from it needs CAP_SETPCAP, which capset() below removes.
    for (int cap = 0; cap < 64; ++cap) {
        const int present = ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (present < 0) break; // EINVAL: past the kernel's last capability
        // EPERM: no CAP_SETPCAP (not root); with no_new_privs and no execve the bounding set is moot.
        if (present == 1 && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EPERM)
            fail("prctl(PR_CAPBSET_DROP)");
    }
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        fail("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    // Nothing to drop (the packaged service has no capabilities, and its unit's filter denies capset).
    __user_cap_data_struct held[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capget, &header, held) == 0 && held[0].effective == 0 && held[0].permitted == 0 &&
        held[0].inheritable == 0 && held[1].effective == 0 && held[1].permitted == 0 && held[1].inheritable == 0)
        return;
    header = {_LINUX_CAPABILITY_VERSION_3, 0};
    if (::syscall(SYS_capset, &header, data) != 0) fail("capset");
}

// ---- Landlock ----

// The kernel's structs at ABI 6 (the installed header may be older); the size passed says which.
struct RulesetAttr {
    std::uint64_t handledAccessFs;
    std::uint64_t handledAccessNet;
    std::uint64_t scoped;
};
struct PathBeneathAttr {
    std::uint64_t allowedAccess;
    std::int32_t parentFd;
} __attribute__((packed));

constexpr std::uint64_t kFileRights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                      LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
                                      LANDLOCK_ACCESS_FS_IOCTL_DEV;
constexpr std::uint64_t kReadRights = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
// Everything but execute, device nodes and device ioctls.
constexpr std::uint64_t kWriteRights =
    kReadRights | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
    LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
    LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE;

std::uint64_t handledFsRights(int abi) {
    if (abi >= 5) return (LANDLOCK_ACCESS_FS_IOCTL_DEV << 1) - 1;
    if (abi >= 3) return (LANDLOCK_ACCESS_FS_TRUNCATE << 1) - 1;
    if (abi >= 2) return (LANDLOCK_ACCESS_FS_REFER << 1) - 1;
    return (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;
}

// Returns false when the path does not exist (or is not ours to see) and `required` is false.
bool addPathRule(int ruleset, const std::string& path, std::uint64_t access, std::uint64_t handled, bool required) {
    Fd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
    if (fd.get() < 0) {
        if (!required && (errno == ENOENT || errno == ENOTDIR || errno == EACCES)) return false;
        fail("landlock: open " + path);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail("landlock: fstat " + path);
    if (!S_ISDIR(st.st_mode)) access &= kFileRights; // directory rights on a file are EINVAL
    PathBeneathAttr rule{access & handled, fd.get()};
    if (::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0)
        fail("landlock_add_rule " + path);
    return true;
}

void applyLandlock(const SandboxPolicy& policy, const std::string& workDir, SandboxReport& report) {
    report.landlockAbi = landlockAbi();
    if (policy.maxLandlockAbi > 0 && report.landlockAbi > policy.maxLandlockAbi)
        report.landlockAbi = policy.maxLandlockAbi;
    const int abi = report.landlockAbi;
    if (abi <= 0) return;

    RulesetAttr attr{handledFsRights(abi), 0, 0};
    std::size_t attrSize = sizeof(std::uint64_t);
    if (abi >= 4) {
        // Never bind (a plugin serves nobody); connect only with allowNetwork. Handling connect
        // with no port rule denies every port, leaving it unhandled allows all.
        attr.handledAccessNet = LANDLOCK_ACCESS_NET_BIND_TCP;
        if (!policy.allowNetwork) attr.handledAccessNet |= LANDLOCK_ACCESS_NET_CONNECT_TCP;
        attrSize = 2 * sizeof(std::uint64_t);
    }
    if (abi >= 6) {
        attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
        attrSize = sizeof(RulesetAttr);
    }
    const long rulesetFd = ::syscall(SYS_landlock_create_ruleset, &attr, attrSize, 0);
    if (rulesetFd < 0) fail("landlock_create_ruleset");
    Fd ruleset(static_cast<int>(rulesetFd));

    addPathRule(ruleset.get(), workDir, kWriteRights, attr.handledAccessFs, true);
    for (const auto& path : policy.readOnlyPaths)
        if (!addPathRule(ruleset.get(), path, kReadRights, attr.handledAccessFs, false))
            report.skippedPaths.push_back(path);
    // glibc and the sanitizers read /proc/self/{maps,status,exe}. "/proc/self" resolves to this
    // process's /proc/<pid>, so other processes' /proc/<pid>/ stay out of reach.
    addPathRule(ruleset.get(), "/proc/self", kReadRights, attr.handledAccessFs, false);

    if (::syscall(SYS_landlock_restrict_self, ruleset.get(), 0) != 0) fail("landlock_restrict_self");
    report.landlockFilesystem = true;
    report.landlockNetwork = abi >= 4;
    report.landlockSignalScope = abi >= 6;
}

// ---- seccomp ----

// int-typed arguments (commands, pids, domains): the kernel reads only the low 32 bits.
scmp_arg_cmp arg32Eq(unsigned arg, std::uint32_t value) {
    return {arg, SCMP_CMP_MASKED_EQ, 0xffffffffu, value};
}
scmp_arg_cmp argMaskedEq(unsigned arg, std::uint64_t mask, std::uint64_t value) {
    return {arg, SCMP_CMP_MASKED_EQ, mask, value};
}

class SeccompFilter {
public:
    // Default EPERM, not KILL: a denied call gives the plugin an error it can report (and the host
    // can log); a killed runner would only be restarted, with nothing learned.
    SeccompFilter() : ctx_(seccomp_init(SCMP_ACT_ERRNO(EPERM))) {
        if (!ctx_) throw std::runtime_error("sandbox: seccomp_init failed");
        attr(SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM), "ACT_BADARCH");
        attr(SCMP_FLTATR_CTL_TSYNC, 1, "CTL_TSYNC");
        seccomp_attr_set(ctx_, SCMP_FLTATR_CTL_OPTIMIZE, 2); // binary tree; older libseccomp: linear, fine
    }
    ~SeccompFilter() { seccomp_release(ctx_); }
    SeccompFilter(const SeccompFilter&) = delete;
    SeccompFilter& operator=(const SeccompFilter&) = delete;

    void allow(std::initializer_list<const char*> names) {
        for (const char* name : names)
            add(SCMP_ACT_ALLOW, name, {});
    }
    // Several calls for one syscall are alternatives (OR); the conditions of one call all hold (AND).
    void allowIf(const char* name, std::initializer_list<scmp_arg_cmp> conditions) {
        add(SCMP_ACT_ALLOW, name, conditions);
    }
    void add(std::uint32_t action, const char* name, std::initializer_list<scmp_arg_cmp> conditions) {
        const int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) return; // unknown to this libseccomp: stays denied
        const int rc = seccomp_rule_add_array(ctx_, action, nr, static_cast<unsigned>(conditions.size()),
                                              conditions.size() ? conditions.begin() : nullptr);
        if (rc < 0) fail(std::string("seccomp_rule_add(") + name + ")", -rc);
    }
    void load() {
        const int rc = seccomp_load(ctx_);
        if (rc < 0) fail("seccomp_load", -rc);
    }

private:
    void attr(scmp_filter_attr which, std::uint32_t value, const char* name) {
        const int rc = seccomp_attr_set(ctx_, which, value);
        if (rc < 0) fail(std::string("seccomp_attr_set(") + name + ")", -rc);
    }
    scmp_filter_ctx ctx_;
};

void applySeccomp(const SandboxPolicy& policy, const SandboxReport& report) {
    SeccompFilter f;
    const auto pid = static_cast<std::uint32_t>(::getpid()); // fixed: no fork after this

    // Memory, threads, identity, scheduling of the caller.
    f.allow({"exit", "exit_group", "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync"});
    f.allow({"mlock", "mlock2", "munlock", "memfd_create", "membarrier", "arch_prctl"});
    f.allow({"futex", "futex_waitv", "rseq", "set_robust_list", "set_tid_address", "wait4", "waitid"});
    f.allow({"getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid"});
    f.allow({"getgroups", "getpgrp", "getpgid", "getsid", "capget", "getrlimit", "setrlimit"});
    f.allow({"uname", "sysinfo", "getrandom", "getrusage", "times", "getcpu", "getpriority"});
    f.allow({"sched_yield", "sched_getaffinity", "sched_getparam", "sched_getscheduler", "sched_getattr"});
    f.allow({"sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval"});
    // pthread_create: clone with CLONE_THREAD and no new namespace. fork/vfork/posix_spawn (clone
    // without CLONE_THREAD) stay EPERM. clone3's flags live in memory seccomp cannot read: ENOSYS
    // makes glibc fall back to clone.
    constexpr std::uint64_t cloneMask = CLONE_THREAD | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                                        CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
#if defined(__s390__) || defined(__s390x__)
    constexpr unsigned cloneFlagsArg = 1;
#else
    constexpr unsigned cloneFlagsArg = 0;
#endif
    f.allowIf("clone", {argMaskedEq(cloneFlagsArg, cloneMask, CLONE_THREAD)});
    f.add(SCMP_ACT_ERRNO(ENOSYS), "clone3", {});
#if SIDEBAND_SANDBOX_ASAN
    // Sanitized builds only: LeakSanitizer's end-of-process check stops the threads from a tracer
    // task (clone CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_UNTRACED, then ptrace and waitpid). Without it
    // every sandboxed process under ASan exits 1. Landlock and the empty capability set still keep
    // ptrace inside this process.
    f.allowIf("clone",
              {argMaskedEq(cloneFlagsArg, ~std::uint64_t{0}, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED)});
    f.allow({"ptrace"});
    f.allowIf("prctl", {arg32Eq(0, PR_SET_PTRACER)});
#endif
    // Calls that take a pid: only this process (or 0, "the caller"). As uid 0 without
    // capabilities the plugin would otherwise still reach every other root process.
    for (const char* name : {"kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"})
        f.allowIf(name, {arg32Eq(0, pid)});
    for (const char* name :
         {"prlimit64", "sched_setaffinity", "sched_setparam", "sched_setscheduler", "sched_setattr"}) {
        f.allowIf(name, {arg32Eq(0, 0)});
        f.allowIf(name, {arg32Eq(0, pid)});
    }
    f.allowIf("setpriority", {arg32Eq(0, PRIO_PROCESS), arg32Eq(1, 0)});
    // ASan's runtime queries the persona (0xffffffff); changing it (e.g. READ_IMPLIES_EXEC) is denied.
    f.allowIf("personality", {arg32Eq(0, 0xffffffffu)});
    for (int option :
         {PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP, PR_CAPBSET_READ,
          PR_GET_KEEPCAPS, PR_GET_TIMERSLACK, PR_SET_TIMERSLACK, PR_GET_PDEATHSIG, PR_SET_PDEATHSIG, PR_GET_THP_DISABLE,
#ifdef PR_SET_VMA
          PR_SET_VMA,
#endif
          PR_GET_TID_ADDRESS})
        f.allowIf("prctl", {arg32Eq(0, static_cast<std::uint32_t>(option))});

    // Signals and time.
    f.allow({"rt_sigaction",    "rt_sigprocmask",   "rt_sigreturn",  "rt_sigpending",
             "rt_sigtimedwait", "rt_sigsuspend",    "sigaltstack",   "restart_syscall",
             "pause",           "signalfd",         "signalfd4",     "alarm",
             "getitimer",       "setitimer",        "timer_create",  "timer_settime",
             "timer_gettime",   "timer_getoverrun", "timer_delete",  "timerfd_create",
             "timerfd_settime", "timerfd_gettime",  "clock_gettime", "clock_getres",
             "clock_nanosleep", "nanosleep",        "gettimeofday",  "time"});

    // Files: Landlock decides which paths; these only say which operations exist at all.
    f.allow({"read",         "write",         "readv",     "writev",     "pread64",
             "pwrite64",     "preadv",        "pwritev",   "preadv2",    "pwritev2",
             "open",         "openat",        "openat2",   "creat",      "close",
             "close_range",  "lseek",         "dup",       "dup2",       "dup3",
             "fstat",        "stat",          "lstat",     "newfstatat", "statx",
             "statfs",       "fstatfs",       "access",    "faccessat",  "faccessat2",
             "getdents",     "getdents64",    "readlink",  "readlinkat", "getcwd",
             "chdir",        "fchdir",        "umask",     "mkdir",      "mkdirat",
             "rmdir",        "unlink",        "unlinkat",  "rename",     "renameat",
             "renameat2",    "link",          "linkat",    "symlink",    "symlinkat",
             "ftruncate",    "fallocate",     "fsync",     "fdatasync",  "sync_file_range",
             "flock",        "fadvise64",     "readahead", "sendfile",   "copy_file_range",
             "splice",       "tee",           "pipe",      "pipe2",      "eventfd",
             "eventfd2",     "poll",          "ppoll",     "select",     "pselect6",
             "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
             "epoll_pwait2"});
    // truncate(path) is a Landlock right only from ABI 3; before that it would reach any file uid 0 owns.
    if (report.landlockAbi >= 3) f.allow({"truncate"});
    // Landlock does not cover chmod/chown/utimes/xattrs. As uid 0 the plugin owns the system's files
    // (it may open /usr read-only and fchmod that fd), so these exist only for other uids, where the
    // kernel's owner checks confine them to the plugin's own files.
    if (::geteuid() != 0)
        f.allow({"chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat", "utime", "utimes", "futimesat",
                 "utimensat"});
    // fcntl without F_SETOWN/F_SETSIG (SIGIO aimed at another process), leases or dnotify.
    for (int command :
         {F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK,
          F_OFD_SETLK, F_OFD_SETLKW, F_GETOWN, F_GETPIPE_SZ, F_SETPIPE_SZ, F_ADD_SEALS, F_GET_SEALS})
        f.allowIf("fcntl", {arg32Eq(1, static_cast<std::uint32_t>(command))});
    // ioctl: only the harmless requests ordinary code makes (isatty, FIONREAD/FIONBIO, interface queries).
    for (unsigned long request : std::initializer_list<unsigned long>{
             FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, TCGETS, TIOCGWINSZ, TIOCOUTQ, SIOCGIFCONF, SIOCGIFFLAGS, SIOCGIFADDR,
             SIOCGIFNETMASK, SIOCGIFBRDADDR, SIOCGIFHWADDR, SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFMTU})
        f.allowIf("ioctl", {arg32Eq(1, static_cast<std::uint32_t>(request))});

    // Sockets: Unix always (the runner's socketpair to the host); IP and routing netlink (getaddrinfo,
    // getifaddrs) only with allowNetwork. Which TCP ports is Landlock's part.
    f.allowIf("socket", {arg32Eq(0, AF_UNIX)});
    if (policy.allowNetwork) {
        f.allowIf("socket", {arg32Eq(0, AF_INET)});
        f.allowIf("socket", {arg32Eq(0, AF_INET6)});
        f.allowIf("socket", {arg32Eq(0, AF_NETLINK), arg32Eq(2, NETLINK_ROUTE)});
    }
    f.allow({"socketpair", "connect", "accept", "accept4", "bind", "listen", "getsockname", "getpeername", "setsockopt",
             "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown"});

    // Everything else is EPERM: execve/execveat, fork/vfork, ptrace, process_vm_*, pidfd_*, kcmp,
    // mount and the new mount API, unshare/setns/chroot/pivot_root, setuid/setgid families, capset,
    // bpf, perf_event_open, userfaultfd, io_uring_*, kexec_*, *_module, reboot, keyctl/add_key,
    // SysV IPC (a channel to other root processes Landlock does not see), inotify/fanotify, xattrs,
    // mknod, seccomp/landlock (no further changes), iopl/ioperm/modify_ldt, clock/time setting.
    f.load();
}

} // namespace

int landlockAbi() {
#ifdef SYS_landlock_create_ruleset
    const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : static_cast<int>(abi);
#else
    return 0;
#endif
}

std::vector<std::string> defaultReadOnlyPaths() {
    return {
        "/usr",
        "/lib",
        "/lib64",
        "/etc/ld.so.cache",
        "/etc/localtime",
        "/usr/share/zoneinfo",
        "/dev/urandom",
        "/dev/random",
        "/sys/devices/system/cpu", // get_nprocs(), std::thread::hardware_concurrency()
        // TLS trust store and OpenSSL config; not /etc/ssl itself, whose private/ holds keys.
        "/etc/ssl/certs",
        "/etc/ssl/openssl.cnf",
        // Name resolution (used only with allowNetwork).
        "/etc/resolv.conf",
        "/etc/hosts",
        "/etc/nsswitch.conf",
        "/etc/host.conf",
        "/etc/gai.conf",
        "/etc/services",
        "/etc/protocols",
    };
}

std::string SandboxReport::summary() const {
    std::string s = "rlimits";
    s += capabilitiesDropped ? ", capabilities dropped" : ", capabilities NOT dropped";
    s += noNewPrivs ? ", no_new_privs" : ", no_new_privs NOT set";
    s += ", landlock abi " + std::to_string(landlockAbi);
    if (landlockAbi == 0) {
        s += " (unavailable: no filesystem or network confinement)";
    } else {
        std::string parts;
        const auto part = [&parts](bool on, const char* name) {
            if (!on) return;
            parts += parts.empty() ? "" : "+";
            parts += name;
        };
        part(landlockFilesystem, "filesystem");
        part(landlockNetwork, "tcp");
        part(landlockSignalScope, "scope");
        s += " (" + (parts.empty() ? std::string("nothing") : parts) + ")";
    }
    s += seccomp ? ", seccomp allow-list" : ", seccomp NOT applied";
    if (!skippedPaths.empty()) {
        s += "; missing read-only paths:";
        for (const auto& path : skippedPaths)
            s += " " + path;
    }
    return s;
}

SandboxReport applySandbox(const SandboxPolicy& policy) {
    SandboxReport report;
    const int threads = threadCount();
    if (threads > 1)
        throw std::runtime_error("sandbox: " + std::to_string(threads) +
                                 " threads running; apply it while single-threaded (capabilities, no_new_privs and "
                                 "Landlock are per thread)");

    applyLimits(policy);
    if (policy.workDir.empty()) throw std::runtime_error("sandbox: chdir: no workDir given");
    // Absolute before the chdir, so a relative workDir still names the same directory for Landlock.
    char* resolved = ::realpath(policy.workDir.c_str(), nullptr);
    if (!resolved) fail("chdir " + policy.workDir);
    const std::string workDir = resolved;
    std::free(resolved);
    if (::chdir(workDir.c_str()) != 0) fail("chdir " + policy.workDir);

    dropCapabilities();
    report.capabilitiesDropped = true;

    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_NO_NEW_PRIVS)");
    report.noNewPrivs = true;

    applyLandlock(policy, workDir, report);

    applySeccomp(policy, report);
    report.seccomp = true;
    return report;
}

} // namespace sideband::isolation
