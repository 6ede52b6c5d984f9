#include "scheduler/model_registry.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace aperture::scheduler {
namespace {

const std::string kStories = std::string(APERTURE_SHARED_DIR) + "/models/stories260K.gguf";

TEST(ModelRegistryTest, LoadsOnFirstUseOnceAndKeepsTheModel) {
  ModelRegistry r;
  ASSERT_TRUE(r.Register("stories", kStories).ok());
  EXPECT_FALSE(r.IsLoaded("stories"));
  std::vector<std::shared_ptr<const LoadedModel>> got(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto m = r.Get("stories");
      ASSERT_TRUE(m.ok()) << m.status();
      got[i] = *m;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& m : got) EXPECT_EQ(m.get(), got[0].get());
  EXPECT_TRUE(r.IsLoaded("stories"));
  EXPECT_EQ(got[0]->id, "stories");
  EXPECT_EQ(got[0]->chat_template->family(), engine::ChatFamily::kPlain);
  EXPECT_GT(got[0]->context_length, 0);
  EXPECT_EQ(r.ids(), std::vector<std::string>{"stories"});
}

TEST(ModelRegistryTest, ErrorsNameTheProblem) {
  ModelRegistry r({.default_context = 2048, .max_context = 100});
  EXPECT_EQ(r.Get("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.Register("", kStories).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(r.Register("stories", kStories).ok());
  EXPECT_TRUE(r.Register("stories", kStories).ok());
  EXPECT_EQ(r.Register("stories", "/elsewhere.gguf").code(), absl::StatusCode::kAlreadyExists);

  ASSERT_TRUE(r.Register("missing", "/no/such/model.gguf").ok());
  absl::StatusOr<std::shared_ptr<const LoadedModel>> m = r.Get("missing");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("'missing'"), std::string_view::npos) << m.status();
  EXPECT_NE(m.status().message().find("/no/such/model.gguf"), std::string_view::npos) << m.status();
  EXPECT_FALSE(r.IsLoaded("missing"));

  auto s = r.Get("stories");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->context_length, 100);  // capped by max_context
}

}  // namespace
}  // namespace aperture::scheduler
