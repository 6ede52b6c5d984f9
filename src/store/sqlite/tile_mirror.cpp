#include "store/sqlite/tile_mirror.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>

#include "core/status_macros.h"
#include "fmt/format.h"
#include "store/sqlite/sqlite_log_tiles.h"

namespace aperture::store {
namespace {

constexpr int kHashSize = 32;
constexpr int kTileWidth = 64;  // leaves under one tile
constexpr char kMagic[8] = {'A', 'P', 'T', 'I', 'L', 'E', 'S', '\n'};
constexpr uint32_t kVersion = 1;
constexpr int64_t kChunkBytes = TileMirror::kChunkSlots * TileMirror::kSlotBytes;
static_assert(kTileWidth * 2 * kHashSize <= TileMirror::kSlotBytes);

// Where level `level` starts in a tile, in hashes: after the full-width
// levels below it (64 + 32 + ...).
constexpr int LevelStart(int level) { return 128 - (128 >> level); }

// Nodes of `level` under one tile.
constexpr int PerTile(int level) { return kTileWidth >> level; }

// Nodes of `level` in the tree of `size` leaves.
constexpr int64_t NodesAt(int level, int64_t size) { return size >> level; }

std::string ReadBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id.size() < 40 ? id : std::string();
}

absl::Status Errno(std::string_view what, const std::string& path) {
  return absl::InternalError(fmt::format("tile mirror {}: {}: {}", path, what, std::strerror(errno)));
}

}  // namespace

// The first bytes of the file. Every field is checked at open; the checksum
// covers all the bytes before it.
struct TileMirror::Header {
  char magic[8];
  uint32_t version;
  uint32_t slot_bytes;
  uint32_t chunk_slots;
  uint32_t clean;  // 1 only after an orderly close
  int64_t size;    // the covered tree size
  char boot_id[40];
  uint64_t checksum;
};

namespace {

// FNV-1a over the header's bytes before the checksum.
template <typename H>
uint64_t Checksum(const H& h) {
  const auto* p = reinterpret_cast<const unsigned char*>(&h);
  uint64_t x = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < offsetof(H, checksum); ++i) x = (x ^ p[i]) * 0x100000001b3ull;
  return x;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TileMirror>> TileMirror::Open(const std::string& path) {
  static_assert(sizeof(Header) == 80 && offsetof(Header, checksum) == 72);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return std::unique_ptr<TileMirror>();
    errno = err;
    return Errno("flock", path);
  }
  std::unique_ptr<TileMirror> m(new TileMirror(path, fd));
  m->boot_id_ = ReadBootId();
  struct stat st;
  if (::fstat(fd, &st) != 0) return Errno("fstat", path);

  // Everything in the header is untrusted until checked.
  Header h{};
  bool trusted = false;
  if (st.st_size >= kSlotBytes && ::pread(fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h)) {
    const bool same_boot = !m->boot_id_.empty() && h.boot_id[sizeof h.boot_id - 1] == '\0' &&
                           m->boot_id_ == std::string_view(h.boot_id, strnlen(h.boot_id, sizeof h.boot_id));
    const int64_t tiles = h.size >= 0 && h.size <= kMaxSize ? (h.size + kTileWidth - 1) / kTileWidth : -1;
    trusted = std::memcmp(h.magic, kMagic, sizeof kMagic) == 0 && h.version == kVersion && h.slot_bytes == kSlotBytes &&
              h.chunk_slots == kChunkSlots && h.checksum == Checksum(h) && tiles >= 0 &&
              st.st_size >= (tiles + 1) * kSlotBytes && (h.clean == 1 || (h.clean == 0 && same_boot));
  }
  if (trusted) {
    m->opened_ = Opened::kTrusted;
    m->file_bytes_ = st.st_size;
  } else {
    // Whatever was there goes: a fresh, empty file of one header page.
    if (::ftruncate(fd, 0) != 0 || ::ftruncate(fd, kSlotBytes) != 0) return Errno("ftruncate", path);
    m->file_bytes_ = kSlotBytes;
  }
  void* header = ::mmap(nullptr, kSlotBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (header == MAP_FAILED) return Errno("mmap", path);
  m->header_ = static_cast<Header*>(header);
  const int64_t size = trusted ? h.size : 0;
  // Not clean from here on: synced before the first write to the data.
  m->header_->clean = 0;
  m->WriteHeader(size);
  if (::msync(header, kSlotBytes, MS_SYNC) != 0 || ::fdatasync(fd) != 0) return Errno("sync", path);
  // Map what the covered size needs, so that readers find it, and fill in
  // the page tables now (reading the file in if it is not in memory), so
  // that no proof takes a page fault later.
  RETURN_IF_ERROR(m->Reserve(size));
  const int64_t bytes = (size + kTileWidth - 1) / kTileWidth * kSlotBytes;
  for (int64_t c = 0; c * kChunkBytes < bytes; ++c) {
    // Best effort: without it (before Linux 5.14), pages fault in on first use.
    (void)::madvise(m->chunks_[c].load(std::memory_order_relaxed), std::min(kChunkBytes, bytes - c * kChunkBytes),
                    MADV_POPULATE_READ);
  }
  m->size_.store(size, std::memory_order_release);
  return m;
}

absl::Status TileMirror::Reserve(int64_t size) {
  size = std::min(size, kMaxSize);
  for (int64_t c = 0; c * kChunkSlots * kTileWidth < size; ++c) {
    auto tile = WritableTile(c * kChunkSlots);
    if (!tile.ok()) return tile.status();
  }
  return absl::OkStatus();
}

TileMirror::~TileMirror() {
  // Data first, then the clean flag: a clean file has all its data on disk.
  bool synced = true;
  for (auto& chunk : chunks_) {
    char* p = chunk.load(std::memory_order_relaxed);
    if (p == nullptr) continue;
    synced = synced && ::msync(p, kChunkBytes, MS_SYNC) == 0;
  }
  synced = synced && ::fdatasync(fd_) == 0;
  if (header_ != nullptr && synced) {
    header_->clean = 1;
    WriteHeader(size());
    if (::msync(header_, kSlotBytes, MS_SYNC) == 0) (void)::fdatasync(fd_);
  }
  for (auto& chunk : chunks_) {
    char* p = chunk.load(std::memory_order_relaxed);
    if (p != nullptr) ::munmap(p, kChunkBytes);
  }
  if (header_ != nullptr) ::munmap(header_, kSlotBytes);
  ::close(fd_);  // drops the flock
}

void TileMirror::WriteHeader(int64_t size) {
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.slot_bytes = kSlotBytes;
  h.chunk_slots = kChunkSlots;
  h.clean = header_->clean;
  h.size = size;
  std::memcpy(h.boot_id, boot_id_.data(), std::min(boot_id_.size(), sizeof h.boot_id - 1));
  h.checksum = Checksum(h);
  std::memcpy(header_, &h, sizeof h);
}

absl::StatusOr<char*> TileMirror::WritableTile(int64_t tile) {
  const int64_t c = tile / kChunkSlots;
  if (tile < 0 || c >= kMaxChunks) return absl::OutOfRangeError("beyond the tile mirror's capacity");
  char* chunk = chunks_[c].load(std::memory_order_relaxed);
  if (chunk == nullptr) {
    // The whole chunk lies within the file before it is mapped, so no
    // access through the mapping is ever past the end of the file.
    const int64_t end = kSlotBytes + (c + 1) * kChunkBytes;
    if (file_bytes_ < end) {
      if (::ftruncate(fd_, end) != 0) return Errno("ftruncate", path_);
      file_bytes_ = end;
    }
    void* p = ::mmap(nullptr, kChunkBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, kSlotBytes + c * kChunkBytes);
    if (p == MAP_FAILED) return Errno("mmap", path_);
    chunk = static_cast<char*>(p);
    chunks_[c].store(chunk, std::memory_order_release);
  }
  return chunk + (tile % kChunkSlots) * kSlotBytes;
}

char* TileMirror::ReadableTile(int64_t tile) const {
  return chunks_[tile / kChunkSlots].load(std::memory_order_acquire) + (tile % kChunkSlots) * kSlotBytes;
}

bool TileMirror::Get(LogNodeId id, int64_t covered, char* out) const {
  if (id.level < 0 || id.level >= kLevels || id.index < 0 || id.index >= NodesAt(id.level, covered)) return false;
  const int64_t tile = id.index / PerTile(id.level);
  const int64_t position = id.index % PerTile(id.level);
  std::memcpy(out, ReadableTile(tile) + (LevelStart(id.level) + position) * kHashSize, kHashSize);
  return true;
}

bool TileMirror::GetRange(int level, int64_t begin, int64_t end, int64_t covered, std::string& out) const {
  if (level < 0 || level >= kLevels || begin < 0 || begin > end || end > NodesAt(level, covered)) return false;
  out.reserve(out.size() + static_cast<size_t>(end - begin) * kHashSize);
  for (int64_t i = begin; i < end;) {
    const int64_t tile = i / PerTile(level);
    const int64_t position = i % PerTile(level);
    const int64_t n = std::min(end - i, PerTile(level) - position);
    out.append(ReadableTile(tile) + (LevelStart(level) + position) * kHashSize, static_cast<size_t>(n) * kHashSize);
    i += n;
  }
  return true;
}

absl::Status TileMirror::Put(LogNodeId id, std::string_view hash) {
  if (id.level < 0 || id.level >= kLevels || id.index < 0) return absl::OkStatus();
  if (hash.size() != kHashSize) return absl::InvalidArgumentError("a tree hash is 32 bytes");
  const int64_t tile = id.index / PerTile(id.level);
  if (tile >= kMaxChunks * kChunkSlots) return absl::OkStatus();
  if (id.index < NodesAt(id.level, size())) {
    return absl::FailedPreconditionError(
        fmt::format("node {}/{} is already in the tile mirror, which never rewrites a hash", id.level, id.index));
  }
  auto p = WritableTile(tile);
  if (!p.ok()) return p.status();
  std::memcpy(*p + (LevelStart(id.level) + id.index % PerTile(id.level)) * kHashSize, hash.data(), kHashSize);
  return absl::OkStatus();
}

absl::Status TileMirror::PutTile(int64_t tile, std::string_view stored) {
  const int width = log_tiles::WidthOfRow(stored.size());
  if (width < 0)
    return absl::DataLossError(fmt::format("tile {} holds {} bytes, which no tile has", tile, stored.size()));
  if (tile < 0 || tile >= kMaxChunks * kChunkSlots) return absl::OkStatus();
  const int64_t covered = size();
  char* p = nullptr;
  for (int level = 0; level < kLevels; ++level) {
    const int have = width >> level;
    // Positions before `from` are covered already: never written again.
    const int64_t first = tile * PerTile(level);
    const int64_t from = std::clamp<int64_t>(NodesAt(level, covered) - first, 0, have);
    if (from == have) continue;
    if (p == nullptr) {
      auto w = WritableTile(tile);
      if (!w.ok()) return w.status();
      p = *w;
    }
    const std::string_view hashes = log_tiles::LevelOf(stored, level);
    std::memcpy(p + (LevelStart(level) + from) * kHashSize, hashes.data() + from * kHashSize,
                static_cast<size_t>(have - from) * kHashSize);
  }
  return absl::OkStatus();
}

bool TileMirror::Matches(int64_t tile, std::string_view stored) const {
  const int64_t covered = size();
  if (tile < 0 || tile * kTileWidth >= covered) return true;  // nothing of it covered
  const char* p = ReadableTile(tile);
  for (int level = 0; level < kLevels; ++level) {
    const int64_t first = tile * PerTile(level);
    const int64_t n = std::clamp<int64_t>(NodesAt(level, covered) - first, 0, PerTile(level));
    const std::string_view hashes = log_tiles::LevelOf(stored, level);
    if (static_cast<int64_t>(hashes.size()) < n * kHashSize ||
        std::memcmp(p + LevelStart(level) * kHashSize, hashes.data(), static_cast<size_t>(n) * kHashSize) != 0) {
      return false;
    }
  }
  return true;
}

void TileMirror::Publish(int64_t size) {
  size = std::min(size, kMaxSize);
  if (size <= this->size()) return;
  size_.store(size, std::memory_order_release);
  WriteHeader(size);
}

absl::Status TileMirror::Reset() {
  size_.store(0, std::memory_order_release);
  WriteHeader(0);
  for (auto& chunk : chunks_) {
    char* p = chunk.exchange(nullptr, std::memory_order_acq_rel);
    if (p != nullptr) ::munmap(p, kChunkBytes);
  }
  if (::ftruncate(fd_, kSlotBytes) != 0) return Errno("ftruncate", path_);
  file_bytes_ = kSlotBytes;
  opened_ = Opened::kReset;
  return absl::OkStatus();
}

}  // namespace aperture::store
