#include "store/testing/postgres_cluster.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture::store::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kPrefix[] = "aperture-pg-";

// Where temporary clusters live: short enough for a unix socket path
// (108 bytes, with "/.s.PGSQL.5432").
std::string TempRoot() {
  std::error_code ec;
  std::string root = fs::temp_directory_path(ec).string();
  if (ec || root.size() > 60) root = "/tmp";
  return root;
}

// The directory of the server binaries: APERTURE_PG_BINDIR, else the newest
// /usr/lib/postgresql/N/bin holding initdb.
absl::StatusOr<std::string> BinDir() {
  if (const char* env = std::getenv("APERTURE_PG_BINDIR"); env && *env) return std::string(env);
  std::error_code ec;
  int best = -1;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string name = entry.path().filename().string();
    const int version = std::atoi(name.c_str());
    if (version > best && fs::exists(entry.path() / "bin" / "initdb", ec)) best = version;
  }
  if (best < 0) {
    return absl::NotFoundError(
        "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin; run `make deps` (it installs Debian's "
        "postgresql) or set APERTURE_PG_BINDIR");
  }
  return fmt::format("/usr/lib/postgresql/{}/bin", best);
}

struct RunAs {
  uid_t uid;
  gid_t gid;
  bool change;  // we are root and must drop to uid/gid
};

absl::StatusOr<RunAs> ServerUser() {
  if (::geteuid() != 0) return RunAs{::geteuid(), ::getegid(), false};
  for (const char* name : {"postgres", "nobody"}) {
    if (const passwd* pw = ::getpwnam(name)) return RunAs{pw->pw_uid, pw->pw_gid, true};
  }
  return absl::FailedPreconditionError(
      "running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as");
}

// In a forked child: becomes the server user. Returns false on failure.
bool DropPrivileges(const RunAs& as) {
  if (!as.change) return true;
  return ::setgroups(0, nullptr) == 0 && ::setgid(as.gid) == 0 && ::setuid(as.uid) == 0;
}

// Runs `argv` as the server user with output to `log`; returns its exit status.
absl::Status RunTool(const RunAs& as, const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    if (!DropPrivileges(as)) ::_exit(126);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() > 2000) text = text.substr(text.size() - 2000);
    return absl::InternalError(fmt::format("{} failed (status {}): {}", argv[0], status, text));
  }
  return absl::OkStatus();
}

absl::Status Chown(const std::string& path, const RunAs& as) {
  if (as.change && ::chown(path.c_str(), as.uid, as.gid) != 0) {
    return absl::InternalError(fmt::format("chown {}: {}", path, std::strerror(errno)));
  }
  return absl::OkStatus();
}

// Clusters left by processes that no longer exist (a test killed before its
// clean-up) are removed.
void SweepStale(const std::string& root) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(kPrefix) || name.find("template") != std::string::npos) continue;
    const pid_t owner = static_cast<pid_t>(std::atol(name.c_str() + sizeof(kPrefix) - 1));
    if (owner > 0 && ::kill(owner, 0) != 0 && errno == ESRCH) fs::remove_all(entry.path(), ec);
  }
}

// An initialised, never started data directory to copy: made once per
// PostgreSQL version and server user (under a lock, so concurrent test
// binaries make it once), then reused.
absl::StatusOr<std::string> Template(const std::string& bindir, const RunAs& as) {
  const std::string root = TempRoot();
  const std::string name = fmt::format("{}template-{}-{}", kPrefix, fs::path(bindir).parent_path().filename().string(),
                                       static_cast<unsigned>(as.uid));
  const std::string dir = root + "/" + name;
  const std::string lock_path = dir + ".lock";
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) return absl::InternalError(fmt::format("cannot open {}: {}", lock_path, std::strerror(errno)));
  ::flock(lock, LOCK_EX);
  absl::Status made = [&]() -> absl::Status {
    std::error_code ec;
    if (fs::exists(dir + "/data/PG_VERSION", ec)) return absl::OkStatus();
    const std::string work = dir + ".tmp";
    fs::remove_all(work, ec);
    fs::create_directories(work, ec);
    if (ec) return absl::InternalError(fmt::format("cannot create {}: {}", work, ec.message()));
    RETURN_IF_ERROR(Chown(work, as));
    RETURN_IF_ERROR(RunTool(as,
                            {bindir + "/initdb", "-D", work + "/data", "--auth=trust", "-U", "aperture", "-E", "UTF8",
                             "--locale=C", "--no-sync", "--no-instructions"},
                            work + "/initdb.log"));
    fs::remove_all(dir, ec);
    fs::rename(work, dir, ec);
    if (ec) return absl::InternalError(fmt::format("cannot rename {}: {}", work, ec.message()));
    return absl::OkStatus();
  }();
  ::flock(lock, LOCK_UN);
  ::close(lock);
  RETURN_IF_ERROR(made);
  return dir + "/data";
}

std::string LogTail(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

std::string ConnInfo(const std::string& dir, const std::string& database) {
  return fmt::format("host={} user=aperture dbname={} connect_timeout=5", dir, database);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresCluster>> PostgresCluster::Start(Options options) {
  ASSIGN_OR_RETURN(std::string bindir, BinDir());
  ASSIGN_OR_RETURN(RunAs as, ServerUser());
  const std::string root = TempRoot();
  SweepStale(root);
  ASSIGN_OR_RETURN(std::string template_data, Template(bindir, as));

  std::unique_ptr<PostgresCluster> cluster(new PostgresCluster());
  std::string pattern = fmt::format("{}/{}{}-XXXXXX", root, kPrefix, ::getpid());
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(fmt::format("mkdtemp {}: {}", pattern, std::strerror(errno)));
  }
  cluster->dir_ = pattern;
  ::chmod(cluster->dir_.c_str(), 0755);
  RETURN_IF_ERROR(Chown(cluster->dir_, as));
  const std::string data = cluster->dir_ + "/data";
  const std::string log = cluster->dir_ + "/server.log";
  RETURN_IF_ERROR(RunTool(as, {"/bin/cp", "-a", template_data, data}, log));

  const std::vector<std::string> argv = {
      bindir + "/postgres",
      "-D",
      data,
      "-k",
      cluster->dir_,
      "-c",
      "listen_addresses=",
      "-c",
      fmt::format("max_connections={}", options.max_connections),
      "-c",
      "shared_buffers=64MB",
      "-c",
      options.durable ? "fsync=on" : "fsync=off",
      "-c",
      options.durable ? "full_page_writes=on" : "full_page_writes=off",
      "-c",
      "logging_collector=off",
  };
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    ::setpgid(0, 0);  // signals to the test's process group (a terminal's ^C) are the test's
    if (!DropPrivileges(as)) ::_exit(126);
    // After the uid change, which clears it: an immediate shutdown when the
    // thread that started us ends.
    ::prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (::getppid() != parent) ::_exit(0);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  cluster->pid_ = pid;

  const std::string conninfo = ConnInfo(cluster->dir_, "postgres");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (;;) {
    if (PQping(conninfo.c_str()) == PQPING_OK) break;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      cluster->pid_ = -1;
      return absl::InternalError(fmt::format("the PostgreSQL test server exited at start: {}", LogTail(log)));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(
          fmt::format("the PostgreSQL test server did not accept connections within 120 s: {}", LogTail(log)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cluster;
}

absl::StatusOr<PostgresCluster*> PostgresCluster::Shared() {
  static std::once_flag once;
  static std::unique_ptr<PostgresCluster> shared;
  static absl::Status status;
  std::call_once(once, [] {
    absl::StatusOr<std::unique_ptr<PostgresCluster>> started = Start(Options());
    if (started.ok()) {
      shared = std::move(*started);
    } else {
      status = started.status();
    }
  });
  if (!shared) return status;
  return shared.get();
}

PostgresCluster::~PostgresCluster() {
  if (pid_ > 0) {
    ::kill(pid_, SIGQUIT);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

absl::StatusOr<std::string> PostgresCluster::CreateDatabase() {
  int n = 0;
  {
    absl::MutexLock lock(&mu_);
    n = ++databases_;
  }
  const std::string name = fmt::format("t{}_{}", ::getpid(), n);
  PGconn* conn = PQconnectdb(ConnInfo(dir_, "postgres").c_str());
  absl::Status status;
  if (PQstatus(conn) != CONNECTION_OK) {
    status = absl::UnavailableError(fmt::format("cannot reach the test server: {}", PQerrorMessage(conn)));
  } else {
    PGresult* r = PQexec(conn, fmt::format("CREATE DATABASE {}", name).c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      status = absl::InternalError(fmt::format("CREATE DATABASE {}: {}", name, PQerrorMessage(conn)));
    }
    PQclear(r);
  }
  PQfinish(conn);
  RETURN_IF_ERROR(status);
  return Url(name);
}

std::string PostgresCluster::Url(const std::string& name) const {
  return fmt::format("postgresql://aperture@/{}?host={}", name, dir_);
}

}  // namespace aperture::store::testing
