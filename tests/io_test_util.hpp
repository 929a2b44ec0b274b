#pragma once
// Helpers shared by the file-format tests: a scratch directory per test, error
// expectations by message substring, and random tensors of every element type.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "tilesparse/core/error.hpp"
#include "tilesparse/core/tensor.hpp"

namespace tilesparse::test {

inline constexpr ElemType kAllElemTypes[] = {ElemType::f64, ElemType::f32, ElemType::f16, ElemType::bf16,
                                             ElemType::i64, ElemType::i32, ElemType::i16, ElemType::i8,
                                             ElemType::u64, ElemType::u32, ElemType::u16, ElemType::u8,
                                             ElemType::boolean};

// Random bytes (booleans 0/1), never all zero for a non-empty tensor.
inline Tensor random_tensor(ElemType type, std::vector<std::int64_t> shape, std::uint64_t seed) {
  Tensor t{type, std::move(shape), {}};
  std::mt19937_64 gen(seed);
  t.bytes.resize(static_cast<std::size_t>(t.numel()) * size_of(type));
  for (auto& b : t.bytes) b = static_cast<std::byte>(type == ElemType::boolean ? gen() % 2 : gen() % 256);
  if (!t.bytes.empty()) t.bytes[0] = std::byte{1};
  return t;
}

inline std::vector<std::byte> to_bytes(std::string_view s) {
  std::vector<std::byte> v(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) v[i] = static_cast<std::byte>(s[i]);
  return v;
}

// Expects `f` to throw tilesparse::Error whose message holds every one of `needles`.
inline void expect_error(const std::function<void()>& f, std::initializer_list<std::string_view> needles) {
  try {
    f();
    ADD_FAILURE() << "no error thrown; expected one mentioning '" << *needles.begin() << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (auto n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
  }
}

// A fresh directory per test, removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tilesparse_io_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add);
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path path(const std::string& name) const { return dir_ / name; }
  // Names in the directory, so tests can assert that no temporary was left behind.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  std::filesystem::path dir_;
};

}  // namespace tilesparse::test
