#include "distribution/gguf_files.h"

#include <string_view>

#include "core/json.h"

namespace aperture::distribution {
namespace {

constexpr std::string_view kTokenizerPrefix = "tokenizer.ggml.";
constexpr std::string_view kChatTemplateKey = "tokenizer.chat_template";

Json ValueJson(const engine::GgufValue& v) {
  using engine::GgufValueType;
  switch (v.type()) {
    case GgufValueType::kBool:
      return v.as_bool();
    case GgufValueType::kString:
      return v.as_string();
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64:
      return v.as_double();
    case GgufValueType::kArray: {
      Json out = Json::array();
      v.ForEachArrayElement([&out](engine::GgufValue& element) { out.push_back(ValueJson(element)); });
      return out;
    }
    default:
      if (v.is_signed()) return v.as_int();
      return v.as_uint();
  }
}

std::string TypeName(const engine::GgufValue& v) {
  if (v.type() != engine::GgufValueType::kArray) return engine::GgufValueTypeName(v.type());
  return std::string("array[") + engine::GgufValueTypeName(v.array_type()) + "]";
}

}  // namespace

GgufSideFiles ExtractSideFiles(const engine::GgufFile& gguf) {
  GgufSideFiles out;
  Json keys = Json::object();
  for (const engine::GgufKeyValue& kv : gguf.metadata()) {
    if (kv.key == kChatTemplateKey && kv.value.type() == engine::GgufValueType::kString) {
      out.chat_template = kv.value.as_string();
    } else if (std::string_view(kv.key).substr(0, kTokenizerPrefix.size()) == kTokenizerPrefix) {
      keys[kv.key] = {{"type", TypeName(kv.value)}, {"value", ValueJson(kv.value)}};
    } else if (kv.key == "general.architecture" && kv.value.type() == engine::GgufValueType::kString) {
      out.architecture = kv.value.as_string();
    }
  }
  if (!keys.empty()) {
    out.tokenizer_json = CanonicalJson({{"format", "gguf-tokenizer-metadata"}, {"metadata", std::move(keys)}});
  }
  return out;
}

}  // namespace aperture::distribution
