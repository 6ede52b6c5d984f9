#include "engine/tokenizer/spm_encoder.h"

#include <queue>

#include "core/utf8.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

struct Symbol {
  int32_t prev;
  int32_t next;
  size_t start;  // byte offset into the text
  size_t len;    // 0 once merged into its left neighbour
};

struct Bigram {
  float score;
  int32_t left;
  int32_t right;
  size_t len;  // combined length when queued; stale entries fail the check
  bool operator<(const Bigram& o) const {
    // std::priority_queue pops the largest: highest score, then leftmost.
    return score < o.score || (score == o.score && left > o.left);
  }
};

}  // namespace

SpmEncoder::SpmEncoder(const Vocab& vocab, int32_t unk_id) : vocab_(vocab) {
  for (int b = 0; b < 256; ++b) {
    int32_t id = vocab.Find(fmt::format("<0x{:02X}>", b));
    if (id < 0) id = vocab.Find(std::string_view(reinterpret_cast<const char*>(&b), 1));
    byte_tokens_[b] = id >= 0 ? id : unk_id;
  }
}

void SpmEncoder::Encode(std::string_view text, std::vector<int32_t>* out) const {
  if (text.empty()) return;
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t offs = 0; offs < text.size();) {
    // Whole characters; an invalid sequence is split off at its maximal
    // invalid subpart so it cannot swallow the next character (llama.cpp
    // trusts the lead byte and can eat a following "▁" here).
    size_t len = 0;
    ScanUtf8(text, offs, &len);
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back({index - 1, offs + len == text.size() ? -1 : index + 1, offs, len});
    offs += len;
  }

  std::priority_queue<Bigram> queue;
  const size_t max_len = vocab_.max_token_bytes();
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    const size_t len = l.len + r.len;
    if (len > max_len) return;
    const int32_t id = vocab_.Find(text.substr(l.start, len));
    if (id < 0) return;
    queue.push({vocab_.score(id), left, right, len});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = symbols[b.left];
    Symbol& r = symbols[b.right];
    if (l.len == 0 || r.len == 0 || l.next != b.right || l.len + r.len != b.len) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    const std::string_view piece = text.substr(s.start, s.len);
    const int32_t id = vocab_.Find(piece);
    if (id >= 0) {
      out->push_back(id);
      continue;
    }
    // Every merge produced a token, so only a single character gets here.
    for (char c : piece) {
      const int32_t byte_id = byte_tokens_[static_cast<uint8_t>(c)];
      if (byte_id >= 0) out->push_back(byte_id);
    }
  }
}

}  // namespace aperture::engine
