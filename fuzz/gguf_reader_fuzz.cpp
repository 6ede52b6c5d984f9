// libFuzzer target: arbitrary bytes as a GGUF file. The reader must return
// an error or a file whose every tensor lies inside the buffer; a parsed
// file's tokenizer metadata is fed to Tokenizer::FromGguf as well.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "engine/gguf/gguf_reader.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/tokenizer/tokenizer.h"

using aperture::engine::GgufFile;
using aperture::engine::GgufWriter;
using aperture::engine::Tokenizer;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = GgufFile::FromBuffer(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!file.ok()) return 0;
  const GgufFile& f = **file;
  // Touch the first and last byte of every tensor so ASan sees any out-of-bounds pointer.
  volatile uint8_t sink = 0;
  for (const auto& t : f.tensors()) {
    if (t.size_bytes == 0) continue;
    if (t.data < f.file_data() || t.data + t.size_bytes > f.file_data() + f.file_size()) {
      __builtin_trap();
    }
    sink = sink + t.data[0] + t.data[t.size_bytes - 1];
    if (f.FindTensor(t.name) != &t) __builtin_trap();
  }
  for (const auto& kv : f.metadata()) {
    (void)f.GetString(kv.key);
    (void)f.GetUint32(kv.key);
    (void)f.GetInt64(kv.key);
    (void)f.GetFloat32(kv.key);
    (void)f.GetBool(kv.key);
    (void)f.GetStringArray(kv.key);
    (void)f.GetInt32Array(kv.key);
    (void)f.GetFloat32Array(kv.key);
  }
  // Whatever parses must survive a round trip through the writer unchanged.
  GgufWriter w;
  w.SetVersion(f.version());
  for (const auto& kv : f.metadata()) w.Set(kv.key, kv.value);
  for (const auto& t : f.tensors()) {
    if (!w.AddTensor(t.name, t.dims, t.type, std::span<const uint8_t>(t.data, t.size_bytes)).ok()) {
      __builtin_trap();
    }
  }
  auto bytes = w.Serialize();
  if (!bytes.ok()) __builtin_trap();
  auto again = GgufFile::FromBuffer(*bytes);
  if (!again.ok() || (*again)->metadata().size() != f.metadata().size() ||
      (*again)->tensors().size() != f.tensors().size()) {
    __builtin_trap();
  }
  for (size_t i = 0; i < f.metadata().size(); ++i) {
    if (!((*again)->metadata()[i].value == f.metadata()[i].value)) __builtin_trap();
  }

  if (f.Has("tokenizer.ggml.model")) {
    auto tok = Tokenizer::FromGguf(f);
    if (tok.ok()) {
      for (bool special : {false, true}) {
        auto ids = (*tok)->Encode("Hello w\xC3\xB6rld \xF0\x9F\xA6\x99 <s>12345\n\xFF", true, special);
        for (int32_t id : ids) {
          if (id < 0 || id >= (*tok)->n_vocab()) __builtin_trap();
        }
        (void)(*tok)->Decode(ids);
      }
    }
  }
  return 0;
}
