// applySandbox() changes the calling process for good, so every test forks: the child applies the
// sandbox, tries one thing and reports through its exit code and a pipe; the parent waits.
#include "isolation/Sandbox.h"

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SIDEBAND_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIDEBAND_TEST_ASAN 1
#endif
#endif
#ifndef SIDEBAND_TEST_ASAN
#define SIDEBAND_TEST_ASAN 0
#endif

namespace {

using sideband::isolation::applySandbox;
using sideband::isolation::defaultReadOnlyPaths;
using sideband::isolation::landlockAbi;
using sideband::isolation::SandboxPolicy;
using sideband::isolation::SandboxReport;
namespace fs = std::filesystem;

constexpr bool kAsan = SIDEBAND_TEST_ASAN;

// In a child: on failure, say what and errno, and return a non-zero exit code.
#define CHILD_CHECK(condition, what)                                                                                   \
    do {                                                                                                               \
        if (!(condition)) {                                                                                            \
            out = std::string(what) + " (errno " + std::to_string(errno) + ": " + std::strerror(errno) + ")";          \
            return 1;                                                                                                  \
        }                                                                                                              \
    } while (0)

// Why Landlock cannot be used here, or empty when it can (ABI >= minimum).
std::string landlockMissing(int minimumAbi) {
    const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */);
    if (abi < 0) return std::string("Landlock unavailable: landlock_create_ruleset: ") + std::strerror(errno);
    if (abi < minimumAbi)
        return "Landlock ABI " + std::to_string(abi) + " < " + std::to_string(minimumAbi) + " needed for this test";
    return "";
}

#define REQUIRE_LANDLOCK(minimumAbi)                                                                                   \
    do {                                                                                                               \
        const std::string missing = landlockMissing(minimumAbi);                                                       \
        if (!missing.empty()) GTEST_SKIP() << missing;                                                                 \
    } while (0)

// /tmp/sideband-sandbox-XXXXXX/{work,outside,readonly}: only work/ is the plugin's.
class TempTree {
public:
    TempTree() {
        std::string pattern = (fs::temp_directory_path() / "sideband-sandbox-XXXXXX").string();
        if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
        root_ = pattern;
        for (const char* dir : {"work", "outside", "readonly"})
            fs::create_directory(root_ / dir);
        std::ofstream(root_ / "outside" / "existing.txt") << "outside\n";
        std::ofstream(root_ / "readonly" / "data.txt") << "read me\n";
    }
    ~TempTree() {
        std::error_code ignored;
        fs::remove_all(root_, ignored);
    }
    TempTree(const TempTree&) = delete;
    TempTree& operator=(const TempTree&) = delete;

    std::string work() const { return (root_ / "work").string(); }
    std::string outside() const { return (root_ / "outside").string(); }
    std::string readonly() const { return (root_ / "readonly").string(); }

private:
    fs::path root_;
};

SandboxPolicy policyFor(const TempTree& tree) {
    SandboxPolicy policy;
    policy.workDir = tree.work();
    policy.readOnlyPaths = defaultReadOnlyPaths();
    policy.readOnlyPaths.push_back(tree.readonly());
    // ASan reserves terabytes of address space up front: any RLIMIT_AS would stop every mmap.
    if (kAsan) policy.addressSpaceBytes = 0;
    return policy;
}

struct Outcome {
    int exitCode = -1; // -1: killed by a signal
    int signal = 0;
    std::string message; // the child's explanation, or "applied: <summary>"
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
    return os << "exit " << o.exitCode << " signal " << o.signal << ": " << o.message;
}

using ChildBody = std::function<int(const SandboxReport& report, std::string& out)>;

void writeAll(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
    }
}

// Forks; the child runs `before` (unsandboxed), applies `policy`, runs `body` and _exit()s with its
// result (no atexit handlers, no LeakSanitizer pass). `parent` runs meanwhile in the parent.
Outcome runSandboxed(const SandboxPolicy& policy, const ChildBody& body, const std::function<void()>& before = {},
                     const std::function<void(pid_t)>& parent = {}) {
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    std::fflush(nullptr); // or the child may print the parent's buffered output again
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::close(report[0]);
        std::string out;
        int code = 0;
        try {
            if (before) before();
            const SandboxReport applied = applySandbox(policy);
            code = body(applied, out);
        } catch (const std::exception& e) {
            out = std::string("exception: ") + e.what();
            code = 90;
        }
        writeAll(report[1], out);
        ::_exit(code);
    }
    ::close(report[1]);
    if (parent) parent(pid);
    Outcome outcome;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(report[0], buffer, sizeof buffer)) > 0)
        outcome.message.append(buffer, n);
    ::close(report[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) outcome.exitCode = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
    return outcome;
}

std::string readSmallFile(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// ---- filesystem ----

TEST(SandboxFilesystem, FileCanBeCreatedWrittenReadAndDeletedInWorkDir) {
    REQUIRE_LANDLOCK(1);
    TempTree tree;
    const std::string file = tree.work() + "/notes.txt";
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        const int fd = ::open(file.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        CHILD_CHECK(fd >= 0, "open O_CREAT in workDir");
        CHILD_CHECK(::write(fd, "hello", 5) == 5, "write");
        char text[8] = {};
        CHILD_CHECK(::pread(fd, text, sizeof text, 0) == 5 && std::string(text) == "hello", "read back");
        ::close(fd);
        CHILD_CHECK(::unlink(file.c_str()) == 0, "unlink");
        // Relative paths too: the sandbox chdir()s into workDir.
        const int relative = ::open("relative.txt", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        CHILD_CHECK(relative >= 0, "open a relative path");
        ::close(relative);
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
    EXPECT_FALSE(fs::exists(file));
    EXPECT_TRUE(fs::exists(tree.work() + "/relative.txt"));
}

TEST(SandboxFilesystem, RelativeWorkDirIsTheDirectoryItNamedBeforeChdir) {
    REQUIRE_LANDLOCK(1);
    TempTree tree;
    SandboxPolicy policy = policyFor(tree);
    policy.workDir = "work";
    const auto outcome = runSandboxed(
        policy,
        [&](const SandboxReport&, std::string& out) {
            const int fd = ::open("created.txt", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
            CHILD_CHECK(fd >= 0, "open in a workDir given relative to the old cwd");
            ::close(fd);
            return 0;
        },
        [&] { fs::current_path(fs::path(tree.work()).parent_path()); });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
    EXPECT_TRUE(fs::exists(tree.work() + "/created.txt"));
}

TEST(SandboxFilesystem, SqliteLikeFilePatternWorksInWorkDir) {
    REQUIRE_LANDLOCK(1);
    TempTree tree;
    const std::string work = tree.work();
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        const std::string db = work + "/db", journal = work + "/db-journal";
        const int fd = ::open(db.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
        CHILD_CHECK(fd >= 0, "open db");
        struct flock lock {};
        lock.l_type = F_WRLCK;
        lock.l_whence = SEEK_SET;
        lock.l_start = 1 << 30;
        lock.l_len = 1;
        CHILD_CHECK(::fcntl(fd, F_SETLK, &lock) == 0, "fcntl F_SETLK");
        CHILD_CHECK(::fcntl(fd, F_GETLK, &lock) == 0, "fcntl F_GETLK");
        const std::string page(4096, 'x');
        CHILD_CHECK(::pwrite(fd, page.data(), page.size(), 4096) == 4096, "pwrite");
        CHILD_CHECK(::fsync(fd) == 0, "fsync");
        CHILD_CHECK(::fdatasync(fd) == 0, "fdatasync");
        CHILD_CHECK(::ftruncate(fd, 4096) == 0, "ftruncate");
        struct stat st {};
        CHILD_CHECK(::fstat(fd, &st) == 0 && st.st_size == 4096, "fstat");
        CHILD_CHECK(::flock(fd, LOCK_EX) == 0, "flock");
        const int j = ::open(journal.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
        CHILD_CHECK(j >= 0, "open journal");
        CHILD_CHECK(::pwrite(j, page.data(), 512, 0) == 512, "pwrite journal");
        ::close(j);
        CHILD_CHECK(::rename(journal.c_str(), (work + "/db-wal").c_str()) == 0, "rename");
        CHILD_CHECK(::mkdir((work + "/sub").c_str(), 0755) == 0, "mkdir");
        CHILD_CHECK(::rename((work + "/db-wal").c_str(), (work + "/sub/moved").c_str()) == 0,
                    "rename into a subdirectory");
        DIR* dir = ::opendir(work.c_str());
        CHILD_CHECK(dir != nullptr, "opendir workDir");
        int entries = 0;
        while (::readdir(dir))
            ++entries;
        ::closedir(dir);
        CHILD_CHECK(entries == 4, "readdir saw . .. db sub");
        CHILD_CHECK(::unlink((work + "/sub/moved").c_str()) == 0, "unlink");
        CHILD_CHECK(::rmdir((work + "/sub").c_str()) == 0, "rmdir");
        CHILD_CHECK(::access(db.c_str(), R_OK | W_OK) == 0, "access");
        ::close(fd);
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxFilesystem, SqliteDatabaseInWalModeWorksInWorkDir) {
    REQUIRE_LANDLOCK(1);
    TempTree tree;
    const std::string path = tree.work() + "/tenant.sqlite";
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        sqlite3* db = nullptr;
        const auto ok = [&](const char* sql) {
            char* error = nullptr;
            if (sqlite3_exec(db, sql, nullptr, nullptr, &error) == SQLITE_OK) return true;
            out = std::string(sql) + ": " + (error ? error : "?");
            sqlite3_free(error);
            return false;
        };
        if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
            out = std::string("sqlite3_open_v2: ") + sqlite3_errmsg(db);
            return 1;
        }
        if (!ok("PRAGMA journal_mode=WAL") || !ok("CREATE TABLE calls(id INTEGER PRIMARY KEY, who TEXT)") ||
            !ok("BEGIN") || !ok("INSERT INTO calls(who) VALUES ('alice'), ('bob')") || !ok("COMMIT") ||
            !ok("PRAGMA wal_checkpoint(TRUNCATE)") || !ok("DELETE FROM calls WHERE who = 'bob'"))
            return 1;
        sqlite3_stmt* count = nullptr;
        sqlite3_prepare_v2(db, "SELECT count(*) FROM calls", -1, &count, nullptr);
        const bool one = sqlite3_step(count) == SQLITE_ROW && sqlite3_column_int(count, 0) == 1;
        sqlite3_finalize(count);
        if (sqlite3_close(db) != SQLITE_OK || !one) {
            out = "count or close failed";
            return 1;
        }
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxFilesystem, CreatingFileOutsideWorkDirFailsWithEacces) {
    REQUIRE_LANDLOCK(1);
    TempTree tree;
    const std::string file = tree.outside() + "/new.txt";
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        const int fd = ::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        CHILD_CHECK(fd < 0 && errno == EACCES, "open O_CREAT outside workDir was not EACCES");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
    EXPECT_FALSE(fs::exists(file));
}

TEST(SandboxFilesystem, WritingExistingFileOutsideWorkDirFailsWithEacces) {
    REQUIRE_LANDLOCK(1);
    TempTree tree;
    const std::string file = tree.outside() + "/existing.txt";
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        const int fd = ::open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
        CHILD_CHECK(fd < 0 && errno == EACCES, "open O_WRONLY outside workDir was not EACCES");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
    EXPECT_EQ(readSmallFile(file), "outside\n");
}

TEST(SandboxFilesystem, ReadingFileOutsideAllowedPathsFailsWithEacces) {
    REQUIRE_LANDLOCK(1);
    TempTree tree;
    const std::string file = tree.outside() + "/existing.txt";
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        CHILD_CHECK(fd < 0 && errno == EACCES, "open O_RDONLY outside the allowed paths was not EACCES");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxFilesystem, ReadOnlyPathCanBeReadButNotWritten) {
    REQUIRE_LANDLOCK(1);
    TempTree tree;
    const std::string file = tree.readonly() + "/data.txt";
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        CHILD_CHECK(fd >= 0, "open a read-only path for reading");
        ::close(fd);
        CHILD_CHECK(::open(file.c_str(), O_WRONLY | O_CLOEXEC) < 0 && errno == EACCES, "open for writing not EACCES");
        CHILD_CHECK(::unlink(file.c_str()) != 0 && errno == EACCES, "unlink not EACCES");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
    EXPECT_EQ(readSmallFile(file), "read me\n");
}

TEST(SandboxFilesystem, ReadingAnotherProcessEnvironFails) {
    REQUIRE_LANDLOCK(1);
    TempTree tree;
    const std::string parentEnviron = "/proc/" + std::to_string(::getpid()) + "/environ";
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        const int fd = ::open(parentEnviron.c_str(), O_RDONLY | O_CLOEXEC);
        CHILD_CHECK(fd < 0, "opened the parent's environ");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxFilesystem, ReadingProcSelfStatusWorks) {
    REQUIRE_LANDLOCK(1);
    TempTree tree;
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        const std::string status = readSmallFile("/proc/self/status");
        CHILD_CHECK(status.find("Name:") != std::string::npos, "read /proc/self/status");
        CHILD_CHECK(!readSmallFile("/proc/thread-self/stat").empty(), "read /proc/thread-self/stat");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

// The runner loads the tenant's plugin after applying the sandbox.
TEST(SandboxFilesystem, DlopenOfLibraryInReadOnlyPathWorks) {
    REQUIRE_LANDLOCK(1);
    TempTree tree;
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        void* library = ::dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!library) {
            out = std::string("dlopen: ") + ::dlerror();
            return 1;
        }
        CHILD_CHECK(::dlsym(library, "zlibVersion") != nullptr, "dlsym");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

// Each older ABI's ruleset (rights, struct size) is accepted and confines the filesystem.
class SandboxLandlockAbi : public ::testing::TestWithParam<int> {};

TEST_P(SandboxLandlockAbi, WorkDirIsWritableAndOutsideIsNot) {
    REQUIRE_LANDLOCK(GetParam());
    TempTree tree;
    SandboxPolicy policy = policyFor(tree);
    policy.maxLandlockAbi = GetParam();
    const std::string inside = tree.work() + "/inside.txt", outside = tree.outside() + "/new.txt";
    const auto outcome = runSandboxed(policy, [&](const SandboxReport& report, std::string& out) {
        CHILD_CHECK(report.landlockAbi == GetParam(), "report names another ABI");
        const int fd = ::open(inside.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        CHILD_CHECK(fd >= 0, "create in workDir");
        CHILD_CHECK(::ftruncate(fd, 0) == 0, "ftruncate in workDir");
        ::close(fd);
        CHILD_CHECK(::open(outside.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600) < 0 && errno == EACCES,
                    "create outside workDir was not EACCES");
        CHILD_CHECK(::truncate((tree.outside() + "/existing.txt").c_str(), 0) != 0,
                    "truncate outside workDir succeeded");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
    EXPECT_EQ(readSmallFile(tree.outside() + "/existing.txt"), "outside\n");
}

INSTANTIATE_TEST_SUITE_P(Abi, SandboxLandlockAbi, ::testing::Range(1, 8),
                         [](const ::testing::TestParamInfo<int>& info) { return "Abi" + std::to_string(info.param); });

// ---- processes, threads, signals ----

TEST(SandboxProcess, ForkFailsWithEperm) {
    TempTree tree;
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        const pid_t child = ::fork();
        if (child == 0) ::_exit(0);
        CHILD_CHECK(child < 0 && errno == EPERM, "fork was not EPERM");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxProcess, ThreadsCanBeCreatedAndJoined) {
    TempTree tree;
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        std::atomic<int> ran{0};
        try {
            std::vector<std::thread> threads;
            for (int i = 0; i < 4; ++i)
                threads.emplace_back([&ran] { ++ran; });
            for (auto& thread : threads)
                thread.join();
        } catch (const std::exception& e) {
            out = std::string("std::thread: ") + e.what();
            return 1;
        }
        CHILD_CHECK(ran == 4, "not every thread ran");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxProcess, ExecveFailsWithEperm) {
    TempTree tree;
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
        char* const envp[] = {nullptr};
        ::execve("/bin/true", argv, envp);
        CHILD_CHECK(errno == EPERM, "execve was not EPERM");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxProcess, SignalToAnotherProcessFailsWithEperm) {
    TempTree tree;
    const pid_t parent = ::getpid();
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        CHILD_CHECK(::kill(parent, 0) != 0 && errno == EPERM, "kill(parent) was not EPERM");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

std::atomic<int> signalsSeen{0};

TEST(SandboxProcess, SignalToItselfIsDelivered) {
    TempTree tree;
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        struct sigaction action {};
        action.sa_handler = [](int) { ++signalsSeen; };
        CHILD_CHECK(::sigaction(SIGUSR1, &action, nullptr) == 0, "sigaction");
        CHILD_CHECK(::raise(SIGUSR1) == 0, "raise");
        CHILD_CHECK(::kill(::getpid(), SIGUSR1) == 0, "kill(self)");
        CHILD_CHECK(signalsSeen == 2, "the handler did not run twice");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxProcess, ChangingFileModeAsRootFailsWithEperm) {
    if (::geteuid() != 0) GTEST_SKIP() << "only uid 0 loses chmod (other uids keep it for their own files)";
    TempTree tree;
    // Landlock does not cover modes: uid 0 owns these files, so only seccomp stands in the way.
    const std::string outside = tree.outside() + "/existing.txt", readable = tree.readonly() + "/data.txt";
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        CHILD_CHECK(::chmod(outside.c_str(), 0666) != 0 && errno == EPERM, "chmod was not EPERM");
        const int fd = ::open(readable.c_str(), O_RDONLY | O_CLOEXEC);
        CHILD_CHECK(fd >= 0, "open a read-only file");
        CHILD_CHECK(::fchmod(fd, 0666) != 0 && errno == EPERM, "fchmod was not EPERM");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxProcess, ApplyingWithSecondThreadRunningThrows) {
    TempTree tree;
    const SandboxPolicy policy = policyFor(tree);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int code = 1;
        std::thread sleeper([] { ::pause(); });
        try {
            applySandbox(policy);
        } catch (const std::runtime_error& e) {
            code = std::string(e.what()).find("single-threaded") != std::string::npos ? 0 : 2;
        }
        ::_exit(code); // ends the sleeping thread too
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

// The child ends through exit(), not _exit(): atexit handlers and, under ASan, LeakSanitizer's
// end-of-process check (which stops the threads from a tracer task) run inside the sandbox.
// Returns the exit status and what the child wrote to stderr.
std::pair<int, std::string> runSandboxedToExit(const SandboxPolicy& policy, const std::function<void()>& body) {
    int errors[2];
    if (::pipe2(errors, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::dup2(errors[1], STDERR_FILENO);
        try {
            applySandbox(policy);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "exception: %s\n", e.what());
            ::_exit(90);
        }
        body();
        std::exit(0);
    }
    ::close(errors[1]);
    std::string text;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(errors[0], buffer, sizeof buffer)) > 0)
        text.append(buffer, n);
    ::close(errors[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return {status, text};
}

TEST(SandboxProcess, NormalExitSucceeds) {
    TempTree tree;
    const auto [status, errors] = runSandboxedToExit(policyFor(tree), [] {
        std::thread worker([] {});
        worker.join();
    });
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n" << errors;
}

__attribute__((noinline)) void leakOneBlock() {
    auto* volatile block = static_cast<char*>(std::malloc(100));
    block[0] = 1;
}

TEST(SandboxProcess, LeakSanitizerStillReportsLeaks) {
    if (!kAsan) GTEST_SKIP() << "only meaningful under AddressSanitizer (SIDEBAND_SANITIZE=ON)";
    TempTree tree;
    const auto [status, errors] = runSandboxedToExit(policyFor(tree), [] {
        // Several blocks from a frame that is gone: no stale register or stack slot keeps one reachable.
        for (int i = 0; i < 16; ++i)
            leakOneBlock();
    });
    // A failing exit, or SIGABRT when ASAN_OPTIONS has abort_on_error=1 (tools/run-tests.sh sets it).
    EXPECT_TRUE((WIFEXITED(status) && WEXITSTATUS(status) != 0) || (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT))
        << "status " << status;
    EXPECT_NE(errors.find("LeakSanitizer: detected memory leaks"), std::string::npos) << errors;
}

// ---- network ----

// A listening socket on 127.0.0.1, opened by the parent.
class Listener {
public:
    Listener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
            ::listen(fd_, 8) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
            throw std::runtime_error("listener failed");
        port_ = ntohs(address.sin_port);
    }
    ~Listener() { ::close(fd_); }
    sockaddr_in address() const {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(port_);
        return address;
    }

private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

TEST(SandboxNetwork, NewInetSocketFailsWithEpermWithoutNetwork) {
    TempTree tree;
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        CHILD_CHECK(::socket(AF_INET, SOCK_STREAM, 0) < 0 && errno == EPERM, "socket(AF_INET) was not EPERM");
        CHILD_CHECK(::socket(AF_INET6, SOCK_DGRAM, 0) < 0 && errno == EPERM, "socket(AF_INET6) was not EPERM");
        const int unixSocket = ::socket(AF_UNIX, SOCK_STREAM, 0);
        CHILD_CHECK(unixSocket >= 0, "socket(AF_UNIX)");
        ::close(unixSocket);
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxNetwork, ConnectToLoopbackFailsWithoutNetwork) {
    REQUIRE_LANDLOCK(4);
    TempTree tree;
    Listener listener;
    const sockaddr_in address = listener.address();
    int preopened = -1; // opened before the sandbox, so only Landlock stands between it and connect()
    const auto outcome = runSandboxed(
        policyFor(tree),
        [&](const SandboxReport&, std::string& out) {
            CHILD_CHECK(preopened >= 0, "socket before the sandbox");
            const int rc = ::connect(preopened, reinterpret_cast<const sockaddr*>(&address), sizeof address);
            CHILD_CHECK(rc != 0 && errno == EACCES, "connect was not EACCES");
            return 0;
        },
        [&] { preopened = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxNetwork, ConnectToLoopbackWorksWithNetwork) {
    TempTree tree;
    Listener listener;
    const sockaddr_in address = listener.address();
    SandboxPolicy policy = policyFor(tree);
    policy.allowNetwork = true;
    const auto outcome = runSandboxed(policy, [&](const SandboxReport&, std::string& out) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHILD_CHECK(fd >= 0, "socket(AF_INET)");
        CHILD_CHECK(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0, "connect");
        CHILD_CHECK(::write(fd, "hi", 2) == 2, "write");
        ::close(fd);
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxNetwork, TcpBindFailsEvenWithNetwork) {
    REQUIRE_LANDLOCK(4);
    TempTree tree;
    SandboxPolicy policy = policyFor(tree);
    policy.allowNetwork = true;
    const auto outcome = runSandboxed(policy, [&](const SandboxReport&, std::string& out) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHILD_CHECK(fd >= 0, "socket(AF_INET)");
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(0);
        const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
        CHILD_CHECK(rc != 0 && errno == EACCES, "bind was not EACCES");
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

// ---- inherited channel to the host ----

TEST(SandboxIpc, InheritedSocketpairStillSendsAndReceives) {
    TempTree tree;
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    int sideChannel[2]; // the parent hands the child its write end over the socketpair (SCM_RIGHTS)
    ASSERT_EQ(::pipe2(sideChannel, O_CLOEXEC), 0);
    std::string parentSaw;

    const auto outcome = runSandboxed(
        policyFor(tree),
        [&](const SandboxReport&, std::string& out) {
            const int host = pair[1];
            iovec ping{const_cast<char*>("ping"), 4};
            msghdr message{};
            message.msg_iov = &ping;
            message.msg_iovlen = 1;
            CHILD_CHECK(::sendmsg(host, &message, 0) == 4, "sendmsg");

            char reply[4];
            iovec into{reply, sizeof reply};
            alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
            msghdr received{};
            received.msg_iov = &into;
            received.msg_iovlen = 1;
            received.msg_control = control;
            received.msg_controllen = sizeof control;
            CHILD_CHECK(::recvmsg(host, &received, MSG_CMSG_CLOEXEC) == 4 && std::string(reply, 4) == "pong",
                        "recvmsg");
            const cmsghdr* header = CMSG_FIRSTHDR(&received);
            CHILD_CHECK(header && header->cmsg_type == SCM_RIGHTS, "no fd received");
            int passed;
            std::memcpy(&passed, CMSG_DATA(header), sizeof passed);
            CHILD_CHECK(::write(passed, "via-fd", 6) == 6, "write to the received fd");
            ::close(passed);

            CHILD_CHECK(::write(host, "done", 4) == 4, "write");
            char last[3];
            CHILD_CHECK(::read(host, last, 3) == 3 && std::string(last, 3) == "bye", "read");
            return 0;
        },
        [&] {
            ::close(pair[0]);
            ::close(sideChannel[0]);
            ::close(sideChannel[1]);
        },
        [&](pid_t) {
            ::close(pair[1]);
            const int child = pair[0];
            char buffer[16];
            if (::read(child, buffer, 4) != 4) return;
            parentSaw += std::string(buffer, 4) + "|";
            const int pipeWrite = sideChannel[1];
            iovec pong{const_cast<char*>("pong"), 4};
            alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
            msghdr message{};
            message.msg_iov = &pong;
            message.msg_iovlen = 1;
            message.msg_control = control;
            message.msg_controllen = sizeof control;
            cmsghdr* header = CMSG_FIRSTHDR(&message);
            header->cmsg_level = SOL_SOCKET;
            header->cmsg_type = SCM_RIGHTS;
            header->cmsg_len = CMSG_LEN(sizeof(int));
            std::memcpy(CMSG_DATA(header), &pipeWrite, sizeof pipeWrite);
            ::sendmsg(child, &message, 0);
            ::close(pipeWrite);
            if (::read(sideChannel[0], buffer, 6) == 6) parentSaw += std::string(buffer, 6) + "|";
            if (::read(child, buffer, 4) == 4) parentSaw += std::string(buffer, 4);
            ::write(child, "bye", 3);
        });
    ::close(pair[0]);
    ::close(sideChannel[0]);
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
    EXPECT_EQ(parentSaw, "ping|via-fd|done");
}

// ---- limits ----

TEST(SandboxLimits, AllocationBeyondAddressSpaceLimitFails) {
    if (kAsan) GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space; RLIMIT_AS cannot apply";
    TempTree tree;
    SandboxPolicy policy = policyFor(tree);
    policy.addressSpaceBytes = 256ull << 20;
    const auto outcome = runSandboxed(policy, [&](const SandboxReport&, std::string& out) {
        void* volatile big = std::malloc(512ull << 20); // volatile: the compiler may not fold the null check
        CHILD_CHECK(big == nullptr, "malloc(512 MiB) succeeded under a 256 MiB RLIMIT_AS");
        bool threw = false;
        try {
            char* volatile array = new char[512ull << 20];
            delete[] array;
        } catch (const std::bad_alloc&) {
            threw = true;
        }
        CHILD_CHECK(threw, "new char[512 MiB] did not throw bad_alloc");
        for (int i = 0; i < 16; ++i) {
            char* volatile small = static_cast<char*>(std::malloc(1 << 20));
            CHILD_CHECK(small != nullptr, "malloc(1 MiB)");
            small[0] = 1;
            std::free(small);
        }
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxLimits, WriteBeyondFileSizeLimitFailsWithEfbig) {
    TempTree tree;
    SandboxPolicy policy = policyFor(tree);
    policy.fileSizeBytes = 64 << 10;
    const auto outcome = runSandboxed(policy, [&](const SandboxReport&, std::string& out) {
        const int fd = ::open("big.bin", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        CHILD_CHECK(fd >= 0, "open");
        const std::string block(64 << 10, 'x');
        CHILD_CHECK(::write(fd, block.data(), block.size()) == static_cast<ssize_t>(block.size()), "write to limit");
        CHILD_CHECK(::write(fd, "y", 1) < 0 && errno == EFBIG, "write past RLIMIT_FSIZE was not EFBIG");
        ::close(fd);
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome; // not killed by SIGXFSZ
}

// ---- what the kernel and the report say ----

TEST(SandboxStatus, CapabilitiesNoNewPrivsAndSeccompShowInProcStatus) {
    TempTree tree;
    const auto outcome = runSandboxed(policyFor(tree), [&](const SandboxReport&, std::string& out) {
        const std::string status = readSmallFile("/proc/self/status");
        out = status;
        for (const char* line : {"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
                                 "CapAmb:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"})
            if (status.find(line) == std::string::npos) {
                out = std::string("missing '") + line + "' in:\n" + status;
                return 1;
            }
        // The bounding set can only be emptied with CAP_SETPCAP (root).
        if (::getuid() == 0 && status.find("CapBnd:\t0000000000000000") == std::string::npos) {
            out = "bounding set not empty:\n" + status;
            return 1;
        }
        return 0;
    });
    EXPECT_EQ(outcome.exitCode, 0) << outcome;
}

TEST(SandboxStatus, ReportNamesWhatWasApplied) {
    TempTree tree;
    SandboxPolicy policy = policyFor(tree);
    policy.readOnlyPaths.push_back(tree.readonly() + "/no-such-file");
    const auto outcome = runSandboxed(policy, [&](const SandboxReport& report, std::string& out) {
        out = report.summary();
        return 0;
    });
    ASSERT_EQ(outcome.exitCode, 0) << outcome;
    const std::string& summary = outcome.message;
    EXPECT_NE(summary.find("seccomp"), std::string::npos) << summary;
    EXPECT_NE(summary.find("capabilities dropped"), std::string::npos) << summary;
    EXPECT_NE(summary.find("no_new_privs"), std::string::npos) << summary;
    EXPECT_NE(summary.find("landlock abi " + std::to_string(landlockAbi())), std::string::npos) << summary;
    EXPECT_NE(summary.find("no-such-file"), std::string::npos) << summary;
    if (landlockAbi() >= 6) {
        EXPECT_NE(summary.find("filesystem+tcp+scope"), std::string::npos) << summary;
    }
}

} // namespace
