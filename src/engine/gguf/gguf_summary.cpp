#include "engine/gguf/gguf_summary.h"

namespace aperture::engine {
namespace {

// A non-negative integer key of any integer type; 0 when absent or of another type.
uint64_t Count(const GgufFile& f, const std::string& key) {
  absl::StatusOr<uint64_t> v = f.GetUint64(key);
  return v.ok() ? *v : 0;
}

}  // namespace

GgufSummary SummarizeGguf(const GgufFile& f) {
  GgufSummary s;
  s.gguf_version = f.version();
  s.architecture = f.GetStringOr("general.architecture", "").value_or("");
  s.name = f.GetStringOr("general.name", "").value_or("");
  const std::string& a = s.architecture;
  if (!a.empty()) {
    s.layers = Count(f, a + ".block_count");
    s.embedding = Count(f, a + ".embedding_length");
    s.heads = Count(f, a + ".attention.head_count");
    s.kv_heads = f.Has(a + ".attention.head_count_kv") ? Count(f, a + ".attention.head_count_kv") : s.heads;
    s.feed_forward = Count(f, a + ".feed_forward_length");
    s.context = Count(f, a + ".context_length");
  }
  s.tokenizer = f.GetStringOr("tokenizer.ggml.model", "").value_or("");
  s.chat_template = f.Has("tokenizer.chat_template");
  const GgufValue* tokens = f.Find("tokenizer.ggml.tokens");
  if (tokens && tokens->type() == GgufValueType::kArray) s.vocab = tokens->array_size();
  s.file_bytes = f.file_size();
  s.tensors = f.tensors().size();
  for (const GgufTensor& t : f.tensors()) {
    s.parameters += t.n_elements;
    s.parameters_by_type[GgmlTypeName(t.type)] += t.n_elements;
  }
  return s;
}

}  // namespace aperture::engine
