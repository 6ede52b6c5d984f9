#include "engine/tokenizer/bpe_encoder.h"

#include <queue>

#include "absl/status/status.h"
#include "core/utf8.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

struct Symbol {
  int32_t prev;
  int32_t next;
  int32_t id;    // token id, or -1 for a character outside the vocabulary
  size_t start;  // byte offset into the word
  size_t len;    // 0 once merged into its left neighbour
};

struct Candidate {
  int32_t rank;
  int32_t left;
  int32_t right;
  int32_t left_id;
  int32_t right_id;
  int32_t result;
  bool operator<(const Candidate& o) const {
    // std::priority_queue pops the largest: lowest rank, then leftmost.
    return rank > o.rank || (rank == o.rank && left > o.left);
  }
};

}  // namespace

absl::StatusOr<BpeEncoder> BpeEncoder::Build(const Vocab& vocab, const std::vector<std::string>& merges) {
  BpeEncoder enc(vocab);
  enc.merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& m = merges[rank];
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos) {
      return absl::InvalidArgumentError(
          fmt::format("tokenizer.ggml.merges[{}] '{}' has no space between its two parts", rank, m));
    }
    const std::string_view left(m.data(), space);
    const std::string_view right(m.data() + space + 1, m.size() - space - 1);
    const int32_t l = vocab.Find(left);
    const int32_t r = vocab.Find(right);
    if (l < 0 || r < 0) continue;
    const int32_t result = vocab.Find(std::string(left) + std::string(right));
    if (result < 0) continue;
    // The first (lowest-ranked) occurrence of a pair wins.
    enc.merges_.emplace(Key(l, r), Merge{static_cast<int32_t>(rank), result});
  }
  return enc;
}

void BpeEncoder::EncodeWord(std::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t offs = 0; offs < word.size();) {
    const size_t len = std::min(Utf8LengthFromLeadByte(static_cast<uint8_t>(word[offs])), word.size() - offs);
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back(
        {index - 1, offs + len == word.size() ? -1 : index + 1, vocab_->Find(word.substr(offs, len)), offs, len});
    offs += len;
  }

  std::priority_queue<Candidate> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t l = symbols[left].id, r = symbols[right].id;
    if (l < 0 || r < 0) return;
    auto it = merges_.find(Key(l, r));
    if (it == merges_.end()) return;
    queue.push({it->second.rank, left, right, l, r, it->second.result});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = symbols[c.left];
    Symbol& r = symbols[c.right];
    // Skip candidates made stale by an earlier merge.
    if (l.len == 0 || r.len == 0 || l.next != c.right || l.id != c.left_id || r.id != c.right_id) {
      continue;
    }
    l.len += r.len;
    l.id = c.result;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = c.left;
    try_add(l.prev, c.left);
    try_add(c.left, l.next);
  }

  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    if (s.id >= 0) {
      out->push_back(s.id);
      continue;
    }
    for (size_t k = 0; k < s.len; ++k) {
      const int32_t id = vocab_->Find(word.substr(s.start + k, 1));
      if (id >= 0) out->push_back(id);
    }
  }
}

}  // namespace aperture::engine
