// The tile mirror (tile_mirror.h) on its own, and as the SQLite log store
// uses it: the same answers as log_tiles, catching up with appends by other
// connections and processes, rebuilt when it cannot be trusted, owned by one
// store at a time.
#include "store/sqlite/tile_mirror.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/hash.h"
#include "core/random.h"
#include "fmt/format.h"
#include "store/sqlite/sqlite_log_store.h"
#include "store/testing/log_store_test_util.h"

namespace aperture::store {
namespace {

std::string ExpectedNodes(const std::vector<LogNodeId>& ids) {
  std::string out;
  for (const LogNodeId& id : ids) out += NodeHashOf(id.level, id.index);
  return out;
}

// The file's header as documented in tile_mirror.h / docs/log_format.md.
struct RawHeader {
  char magic[8];
  uint32_t version;
  uint32_t slot_bytes;
  uint32_t chunk_slots;
  uint32_t clean;
  int64_t size;
  char boot_id[40];
  uint64_t checksum;
};
static_assert(sizeof(RawHeader) == 80);

uint64_t Fnv(const RawHeader& h) {
  const auto* p = reinterpret_cast<const unsigned char*>(&h);
  uint64_t x = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < offsetof(RawHeader, checksum); ++i) x = (x ^ p[i]) * 0x100000001b3ull;
  return x;
}

RawHeader ReadHeader(const std::string& path) {
  RawHeader h{};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(&h), sizeof h);
  return h;
}

void WriteAt(const std::string& path, int64_t offset, const void* bytes, size_t n) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(offset);
  f.write(static_cast<const char*>(bytes), static_cast<std::streamsize>(n));
}

void WriteHeader(const std::string& path, RawHeader h) {
  h.checksum = Fnv(h);
  WriteAt(path, 0, &h, sizeof h);
}

class TileMirrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("aperture-tilemirror-" + NewId("t"));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string db() const { return (dir_ / "log.db").string(); }
  std::string tiles() const { return db() + "-tiles"; }

  std::unique_ptr<SqliteLogStore> OpenStore() {
    auto s = SqliteLogStore::Open(db(), /*create=*/true);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Every node of levels 0..5 of the tree of `size`, and some beyond it,
  // read through the mirror and through the store.
  void ExpectAllNodes(SqliteLogStore& store, int64_t size) {
    const TileMirror* m = store.mirror();
    ASSERT_NE(m, nullptr);
    ASSERT_EQ(m->size(), size);
    for (int level = 0; level < TileMirror::kLevels; ++level) {
      const int64_t count = size >> level;
      std::string got;
      ASSERT_TRUE(m->GetRange(level, 0, count, m->size(), got));
      ASSERT_EQ(got, ExpectedRange(level, 0, count)) << "level " << level << " at " << size;
      char hash[32];
      EXPECT_FALSE(m->Get({level, count}, m->size(), hash));
      EXPECT_FALSE(m->GetRange(level, 0, count + 1, m->size(), got));
      EXPECT_EQ(*store.NodeRange(level, 0, count), ExpectedRange(level, 0, count));
    }
  }

  std::filesystem::path dir_;
};

TEST_F(TileMirrorTest, AnswersAsSqliteDoesAfterAppendsOfRandomSizes) {
  auto store = OpenStore();
  ASSERT_NE(store->mirror(), nullptr);
  EXPECT_EQ(store->mirror()->opened(), TileMirror::Opened::kUntrusted);  // a new file
  // A second store on the same database has no mirror: its answers come
  // from log_tiles, for comparison.
  auto sqlite_only = OpenStore();
  ASSERT_EQ(sqlite_only->mirror(), nullptr);
  std::mt19937_64 rng(7);
  int64_t size = 0;
  for (int batch = 0; batch < 120; ++batch) {
    const int64_t n = std::uniform_int_distribution<int64_t>(1, batch % 10 == 0 ? 700 : 90)(rng);
    ASSERT_TRUE(store->Append(Leaves(size, size + n)).ok());
    size += n;
    ASSERT_EQ(store->mirror()->size(), size);  // published by the append itself
    for (int q = 0; q < 20; ++q) {
      std::vector<LogNodeId> ids;
      const int count = std::uniform_int_distribution<int>(1, 12)(rng);
      for (int k = 0; k < count; ++k) {
        const int level = std::uniform_int_distribution<int>(0, 9)(rng);
        if ((size >> level) == 0) continue;
        ids.push_back({level, std::uniform_int_distribution<int64_t>(0, (size >> level) - 1)(rng)});
      }
      if (ids.empty()) continue;
      auto mirrored = store->Nodes(ids);
      auto stored = sqlite_only->Nodes(ids);
      ASSERT_TRUE(mirrored.ok()) << mirrored.status();
      ASSERT_TRUE(stored.ok()) << stored.status();
      ASSERT_EQ(*mirrored, *stored);
      ASSERT_EQ(*mirrored, ExpectedNodes(ids));
      // A node beyond the tree is still NotFound.
      std::vector<LogNodeId> beyond = ids;
      beyond.push_back({0, size});
      EXPECT_EQ(store->Nodes(beyond).status().code(), absl::StatusCode::kNotFound);
    }
    const int level = std::uniform_int_distribution<int>(0, 5)(rng);
    const int64_t count = size >> level;
    if (count > 0) {
      const int64_t begin = std::uniform_int_distribution<int64_t>(0, count - 1)(rng);
      const int64_t end = std::uniform_int_distribution<int64_t>(begin, count)(rng);
      EXPECT_EQ(*store->NodeRange(level, begin, end), ExpectedRange(level, begin, end));
      EXPECT_EQ(*store->NodeRange(level, begin, end), *sqlite_only->NodeRange(level, begin, end));
    }
  }
  ExpectAllNodes(*store, size);
  EXPECT_EQ(*store->FindLeaf(NodeHashOf(0, size - 1), size), std::optional<int64_t>(size - 1));
  EXPECT_EQ(*store->FindLeaf(NodeHashOf(0, 5), 5), std::nullopt);
}

TEST_F(TileMirrorTest, CatchesUpWithAnotherConnectionsAppends) {
  auto owner = OpenStore();
  auto other = OpenStore();
  ASSERT_NE(owner->mirror(), nullptr);
  ASSERT_EQ(other->mirror(), nullptr);
  ASSERT_TRUE(owner->Append(Leaves(0, 100)).ok());
  ASSERT_TRUE(other->Append(Leaves(100, 333)).ok());
  EXPECT_EQ(owner->mirror()->size(), 100);
  // Nodes the mirror lacks come from SQLite meanwhile.
  EXPECT_EQ(*owner->Nodes({{0, 300}, {0, 5}, {5, 4}}), ExpectedNodes({{0, 300}, {0, 5}, {5, 4}}));
  // Reading the head shows the log grew: the mirror catches up.
  EXPECT_EQ((*owner->Head())->size, 333);
  ExpectAllNodes(*owner, 333);
  // The other appends again; the owner's next append continues after it,
  // and the mirror catches up from log_tiles before taking the new nodes.
  ASSERT_TRUE(other->Append(Leaves(333, 390)).ok());
  ASSERT_TRUE(owner->Append(Leaves(390, 512)).ok());
  ExpectAllNodes(*owner, 512);
}

TEST_F(TileMirrorTest, CatchesUpWithAnotherProcessesAppends) {
  auto owner = OpenStore();
  ASSERT_TRUE(owner->Append(Leaves(0, 77)).ok());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Its own connections and its own open of the mirror, which the parent holds.
    auto s = SqliteLogStore::Open(db(), /*create=*/false);
    const bool ok = s.ok() && (*s)->mirror() == nullptr && (*s)->Append(Leaves(77, 1000)).ok();
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(owner->mirror()->size(), 77);
  ASSERT_TRUE(owner->Append(Leaves(1000, 1001)).ok());
  ExpectAllNodes(*owner, 1001);
}

TEST_F(TileMirrorTest, IsOwnedByOneStoreAtATime) {
  auto first = OpenStore();
  ASSERT_NE(first->mirror(), nullptr);
  ASSERT_TRUE(first->Append(Leaves(0, 200)).ok());
  auto second = OpenStore();
  EXPECT_EQ(second->mirror(), nullptr);
  EXPECT_EQ(*second->Nodes({{0, 199}, {3, 24}}), ExpectedNodes({{0, 199}, {3, 24}}));
  ASSERT_TRUE(second->Append(Leaves(200, 260)).ok());
  first.reset();
  second.reset();
  // The next store to open takes it over, trusts it (closed cleanly) and
  // catches up with the second store's append.
  auto third = OpenStore();
  ASSERT_NE(third->mirror(), nullptr);
  EXPECT_EQ(third->mirror()->opened(), TileMirror::Opened::kTrusted);
  ExpectAllNodes(*third, 260);
}

TEST_F(TileMirrorTest, MarksTheFileCleanOnlyWhileClosed) {
  auto store = OpenStore();
  ASSERT_TRUE(store->Append(Leaves(0, 130)).ok());
  RawHeader open = ReadHeader(tiles());
  EXPECT_EQ(std::string(open.magic, 8), "APTILES\n");
  EXPECT_EQ(open.clean, 0u);
  EXPECT_EQ(open.size, 130);
  EXPECT_EQ(open.checksum, Fnv(open));
  std::ifstream boot("/proc/sys/kernel/random/boot_id");
  std::string boot_id;
  std::getline(boot, boot_id);
  EXPECT_EQ(std::string(open.boot_id), boot_id);
  store.reset();
  RawHeader closed = ReadHeader(tiles());
  EXPECT_EQ(closed.clean, 1u);
  EXPECT_EQ(closed.size, 130);
  EXPECT_EQ(closed.checksum, Fnv(closed));
  EXPECT_EQ(std::filesystem::file_size(tiles()), 4096u + 64u * 1024 * 1024);
}

// Reopens after damaging the closed mirror file with `damage`, and checks
// how the store took it and that every hash is right.
class DamagedMirrorTest : public TileMirrorTest {
 protected:
  static constexpr int64_t kSize = 5000;
  void SetUp() override {
    TileMirrorTest::SetUp();
    auto store = OpenStore();
    for (int64_t s = 0; s < kSize; s += 1000) ASSERT_TRUE(store->Append(Leaves(s, s + 1000)).ok());
  }
  void ExpectReopened(TileMirror::Opened how) {
    auto store = OpenStore();
    ASSERT_NE(store->mirror(), nullptr);
    EXPECT_EQ(store->mirror()->opened(), how);
    ExpectAllNodes(*store, kSize);
    EXPECT_EQ(*store->Nodes({{0, 4321}, {5, 77}}), ExpectedNodes({{0, 4321}, {5, 77}}));
    ASSERT_TRUE(store->Append(Leaves(kSize, kSize + 10)).ok());
    ExpectAllNodes(*store, kSize + 10);
  }
  // Hashes in every tile of the file replaced with garbage.
  void ScrambleTiles() {
    const std::string junk(4032, 'x');
    for (int64_t t = 0; t * 64 < kSize; ++t) WriteAt(tiles(), 4096 * (t + 1), junk.data(), junk.size());
  }
};

TEST_F(DamagedMirrorTest, AClosedCleanFileIsTrusted) { ExpectReopened(TileMirror::Opened::kTrusted); }

TEST_F(DamagedMirrorTest, ATruncatedFileIsRebuilt) {
  std::filesystem::resize_file(tiles(), 4096 + 40 * 4096 + 100);  // the header says 79 tiles
  ExpectReopened(TileMirror::Opened::kUntrusted);
}

TEST_F(DamagedMirrorTest, AFileShorterThanItsHeaderIsRebuilt) {
  std::filesystem::resize_file(tiles(), 50);
  ExpectReopened(TileMirror::Opened::kUntrusted);
}

TEST_F(DamagedMirrorTest, AGarbageHeaderIsRebuilt) {
  const std::string junk = RandomBytes(80);
  WriteAt(tiles(), 0, junk.data(), junk.size());
  ExpectReopened(TileMirror::Opened::kUntrusted);
}

TEST_F(DamagedMirrorTest, AHeaderWithABadChecksumIsRebuilt) {
  RawHeader h = ReadHeader(tiles());
  h.size -= 1;  // still plausible, but not what was written
  WriteAt(tiles(), 0, &h, sizeof h);
  ExpectReopened(TileMirror::Opened::kUntrusted);
}

TEST_F(DamagedMirrorTest, AHeaderOfAnotherLayoutIsRebuilt) {
  for (int field = 0; field < 4; ++field) {
    RawHeader h = ReadHeader(tiles());
    if (field == 0) h.version = 2;
    if (field == 1) h.slot_bytes = 8192;
    if (field == 2) h.chunk_slots = 1024;
    if (field == 3) h.size = int64_t{1} << 60;
    WriteHeader(tiles(), h);
    auto store = OpenStore();
    ASSERT_NE(store->mirror(), nullptr);
    EXPECT_EQ(store->mirror()->opened(), TileMirror::Opened::kUntrusted) << field;
    ExpectAllNodes(*store, kSize);
  }
}

// A crash (power loss) in an earlier boot: not clean, another boot id, and
// the tiles as the disk kept them (here: garbage). Rebuilt, not trusted.
TEST_F(DamagedMirrorTest, ANotCleanFileFromAnotherBootIsRebuilt) {
  RawHeader h = ReadHeader(tiles());
  h.clean = 0;
  std::memset(h.boot_id, 0, sizeof h.boot_id);
  std::strcpy(h.boot_id, "00000000-0000-4000-8000-000000000000");
  WriteHeader(tiles(), h);
  ScrambleTiles();
  ExpectReopened(TileMirror::Opened::kUntrusted);
}

// kill -9 in this boot: the page cache kept every write, so the file is
// used as it is.
TEST_F(DamagedMirrorTest, ANotCleanFileFromThisBootIsTrusted) {
  RawHeader h = ReadHeader(tiles());
  h.clean = 0;
  WriteHeader(tiles(), h);
  ExpectReopened(TileMirror::Opened::kTrusted);
}

// Tiles that differ from log_tiles (another database's mirror, or damage)
// are found by the sample compared at open, and the mirror rebuilt.
TEST_F(DamagedMirrorTest, TilesThatDisagreeWithSqliteAreRebuilt) {
  ScrambleTiles();
  ExpectReopened(TileMirror::Opened::kReset);
}

TEST_F(DamagedMirrorTest, AMirrorLargerThanTheLogIsRebuilt) {
  // The database goes back to an earlier state (a restored backup) with
  // fewer entries than the mirror covers.
  {
    auto s = SqliteDb::Open(db(), /*create=*/false);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Exec("BEGIN").ok());
    ASSERT_TRUE((*s)->Exec("DELETE FROM log_entries WHERE idx >= 4000").ok());
    ASSERT_TRUE((*s)->Exec("DELETE FROM log_leaf_index WHERE idx >= 4000").ok());
    ASSERT_TRUE((*s)->Exec("DELETE FROM log_tiles WHERE id >= 62 AND id < 4398046511104").ok());  // tiles 0/62..
    ASSERT_TRUE((*s)->Exec("UPDATE log_head SET size = 3968").ok());                              // 62 tiles of 64
    ASSERT_TRUE((*s)->Exec("COMMIT").ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store->mirror(), nullptr);
  EXPECT_EQ(store->mirror()->opened(), TileMirror::Opened::kReset);
  EXPECT_EQ(store->mirror()->size(), 3968);
  std::string got;
  ASSERT_TRUE(store->mirror()->GetRange(0, 0, 3968, 3968, got));
  EXPECT_EQ(got, ExpectedRange(0, 0, 3968));
}

// Readers on other threads while the log grows: a node below the size an
// append has returned from is always there, and right.
TEST_F(TileMirrorTest, ReadersSeeEveryPublishedNodeWhileAppendsGoOn) {
  auto store = OpenStore();
  ASSERT_NE(store->mirror(), nullptr);
  std::atomic<int64_t> appended{0};
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(r);
      while (!done.load()) {
        const int64_t size = appended.load();
        if (size == 0) continue;
        std::vector<LogNodeId> ids;
        for (int level = 0; level < 7 && (size >> level) > 0; ++level) {
          ids.push_back({level, (size >> level) - 1});  // the newest node of each level
          ids.push_back({level, std::uniform_int_distribution<int64_t>(0, (size >> level) - 1)(rng)});
        }
        auto got = store->Nodes(ids);
        if (!got.ok() || *got != ExpectedNodes(ids)) ++wrong;
      }
    });
  }
  std::mt19937_64 rng(3);
  int64_t size = 0;
  for (int batch = 0; batch < 300; ++batch) {
    const int64_t n = std::uniform_int_distribution<int64_t>(1, 40)(rng);
    ASSERT_TRUE(store->Append(Leaves(size, size + n)).ok());
    size += n;
    appended.store(size);
  }
  done.store(true);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0);
  ExpectAllNodes(*store, size);
}

// A missing mirror of a log large enough to be rebuilt on several
// connections at once (1,024 tiles or more), then grown by appends.
TEST_F(TileMirrorTest, RebuildsAMissingMirrorOfALargerLog) {
  const int64_t size = 70001;
  {
    auto store = OpenStore();
    ASSERT_TRUE(store->Append(Leaves(0, 65000)).ok());
    ASSERT_TRUE(store->Append(Leaves(65000, size)).ok());
  }
  ASSERT_TRUE(std::filesystem::remove(tiles()));
  auto store = OpenStore();
  ASSERT_NE(store->mirror(), nullptr);
  EXPECT_EQ(store->mirror()->opened(), TileMirror::Opened::kUntrusted);
  ExpectAllNodes(*store, size);
  ASSERT_TRUE(store->Append(Leaves(size, size + 99)).ok());
  ExpectAllNodes(*store, size + 99);
}

// The class alone: nodes placed across a chunk boundary (tile 16,384 is the
// first of the second 64 MiB chunk), read singly and in ranges.
TEST_F(TileMirrorTest, ReadsAcrossTilesAndChunks) {
  const std::string path = (dir_ / "alone-tiles").string();
  auto opened = TileMirror::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto& m = *opened;
  ASSERT_NE(m, nullptr);
  auto again = TileMirror::Open(path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, nullptr);                             // locked
  const int64_t boundary = TileMirror::kChunkSlots * 64;  // the first leaf in chunk 1
  const int64_t size = boundary + 200;
  for (int level = 0; level < TileMirror::kLevels; ++level) {
    for (int64_t i = ((boundary - 300) >> level); i < (size >> level); ++i) {
      ASSERT_TRUE(m->Put({level, i}, NodeHashOf(level, i)).ok());
    }
  }
  char hash[32];
  EXPECT_FALSE(m->Get({0, boundary}, m->size(), hash));  // not published yet
  m->Publish(size);
  EXPECT_EQ(m->size(), size);
  for (int level = 0; level < TileMirror::kLevels; ++level) {
    const int64_t begin = (boundary - 300) >> level, end = size >> level;
    std::string got;
    ASSERT_TRUE(m->GetRange(level, begin, end, m->size(), got));
    EXPECT_EQ(got, ExpectedRange(level, begin, end)) << level;
    ASSERT_TRUE(m->Get({level, end - 1}, m->size(), hash));
    EXPECT_EQ(std::string(hash, 32), NodeHashOf(level, end - 1));
    EXPECT_FALSE(m->Get({level, end}, m->size(), hash));
  }
  EXPECT_FALSE(m->Get({6, 0}, m->size(), hash));  // not a mirrored level
  // A covered hash is never written again.
  EXPECT_EQ(m->Put({0, 5}, NodeHashOf(0, 5)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(m->Put({0, size}, "short").code(), absl::StatusCode::kInvalidArgument);
  m.reset();
  // Reopened clean: the same hashes.
  auto reopened = TileMirror::Open(path);
  ASSERT_TRUE(reopened.ok() && *reopened != nullptr);
  EXPECT_EQ((*reopened)->opened(), TileMirror::Opened::kTrusted);
  EXPECT_EQ((*reopened)->size(), size);
  std::string got;
  ASSERT_TRUE((*reopened)->GetRange(2, (boundary - 300) >> 2, size >> 2, size, got));
  EXPECT_EQ(got, ExpectedRange(2, (boundary - 300) >> 2, size >> 2));
}

}  // namespace
}  // namespace aperture::store
