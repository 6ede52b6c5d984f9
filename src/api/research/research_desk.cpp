#include "api/research/research_desk.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/hash.h"
#include "core/hex.h"
#include "core/status_macros.h"
#include "fmt/format.h"
#include "translog/entry.h"
#include "translog/merkle.h"

namespace aperture {

ResearchDesk::ResearchDesk(Recorder& recorder, translog::LogReader& log) : recorder_(recorder), log_(log) {
  thread_ = std::thread([this] { Run(); });
}

ResearchDesk::~ResearchDesk() { Stop(); }

void ResearchDesk::Post(std::function<void()> task) {
  {
    StdMutexLock lock(&mu_);
    if (!stopped_) {
      tasks_.push_back(std::move(task));
      cv_.notify_one();
      return;
    }
  }
  task();
}

void ResearchDesk::Stop() {
  {
    StdMutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void ResearchDesk::Run() {
  for (;;) {
    std::function<void()> task;
    {
      StdMutexLock lock(&mu_);
      while (!stopping_ && tasks_.empty()) lock.Wait(cv_);
      if (tasks_.empty()) {
        stopped_ = true;
        return;
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

absl::StatusOr<std::string> ResearchDesk::FileSha256(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return absl::UnavailableError(fmt::format("cannot read the model file {}", path));
  {
    StdMutexLock lock(&mu_);
    auto it = digests_.find(path);
    if (it != digests_.end() && it->second.size == st.st_size && it->second.mtime == st.st_mtime) {
      return it->second.sha256;
    }
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(fmt::format("cannot read the model file {}", path));
  std::string digest;
  if (st.st_size == 0) {
    digest = Sha256Hex("");
  } else {
    void* map = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      return absl::UnavailableError(fmt::format("cannot map the model file {}", path));
    }
    digest = Sha256Hex(std::string_view(static_cast<const char*>(map), static_cast<size_t>(st.st_size)));
    ::munmap(map, static_cast<size_t>(st.st_size));
  }
  ::close(fd);
  StdMutexLock lock(&mu_);
  digests_[path] = {st.st_size, st.st_mtime, digest};
  return digest;
}

absl::StatusOr<Json> ResearchDesk::RecordWithReceipt(const LogEvent& event) {
  ASSIGN_OR_RETURN(translog::PreparedEntry prepared, translog::PrepareEntry(event));
  const translog::Hash leaf = translog::LeafHash(prepared.entry);
  RETURN_IF_ERROR(recorder_.RecordDurably(event));
  ASSIGN_OR_RETURN(LogHead head, log_.Head());
  ASSIGN_OR_RETURN(std::optional<int64_t> index, log_.FindLeaf(leaf, head.size));
  if (!index) return absl::InternalError("the research entry is not in the log after it was recorded");
  return Json{{"log_index", *index}, {"leaf_hash", Base64Encode(translog::ToBytes(leaf))}};
}

}  // namespace aperture
