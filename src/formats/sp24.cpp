#include "tilesparse/formats/sp24.hpp"

#include <array>
#include <string>

#include "src/formats/format_arrays.hpp"
#include "src/formats/structure_checks.hpp"
#include "tilesparse/core/error.hpp"

namespace tilesparse {

namespace {

// One mma.sp m16n8k32 A tile: 16 rows of Wᵀ x 32 K, 16 metadata words (docs/formats.md).
constexpr std::int64_t kTileRows = 16;
constexpr std::int64_t kTileK = 32;
constexpr std::int64_t kWordsPerTile = 16;

std::int64_t round_up(std::int64_t x, std::int64_t m) { return (x + m - 1) / m * m; }

struct MetaBits {
  std::int64_t word;
  int shift;
};

// Where the 2-bit index of (row j of Wᵀ, K-group grp, slot) lives. Within a tile, lane
// 4*(r%8)+h of the warp holds row r%8 (low half) and row r%8+8 (high half) of K-half h,
// which is what mma.sp m16n8k32 with sparsity selector 0 reads from threads 0 and 1 of
// each quad; word 2*(r%8)+h puts the 16 words a warp needs in one 64-byte run.
MetaBits meta_bits(std::int64_t k_pad, std::int64_t j, std::int64_t grp, int slot) {
  const std::int64_t tile = (j / kTileRows) * (k_pad / kTileK) + grp / 8;
  const std::int64_t r = j % kTileRows, q = grp % 8;
  return {tile * kWordsPerTile + 2 * (r % 8) + q / 4, static_cast<int>(16 * (r / 8) + 4 * (q % 4) + 2 * slot)};
}

std::string group_name(std::int64_t j, std::int64_t grp) {
  return "row " + std::to_string(j) + " of Wᵀ, K-group " + std::to_string(grp) + " (k " + std::to_string(4 * grp) +
         ".." + std::to_string(4 * grp + 3) + ")";
}

}  // namespace

int Sp24Weight::position(std::int64_t j, std::int64_t grp, int slot) const {
  const MetaBits b = meta_bits(k_pad, j, grp, slot);
  return static_cast<int>((metadata[static_cast<std::size_t>(b.word)] >> b.shift) & 3u);
}

Validation Sp24Weight::check_mask(const Mask& mask) {
  if (Validation v = detail::check_mask_shape(mask); !v) return v;
  for (std::int64_t j = 0; j < mask.cols; ++j) {
    for (std::int64_t k0 = 0; k0 < mask.rows; k0 += 4) {
      int count = 0;
      for (std::int64_t k = k0; k < std::min(k0 + 4, mask.rows); ++k) count += mask(k, j);
      if (count > 2)
        return Validation::fail("group of four at column " + std::to_string(j) + ", rows " + std::to_string(k0) + ".." +
                                std::to_string(k0 + 3) + " keeps " + std::to_string(count) + " (2:4 allows 2)");
    }
  }
  return {};
}

Sp24Weight Sp24Weight::from_dense(const HostMatrix& w, const Mask& mask) {
  require(mask.rows == w.rows() && mask.cols == w.cols(), "Sp24Weight::from_dense", "mask shape differs from weight",
          shape_str({w.rows(), w.cols()}) + " vs mask " + shape_str({mask.rows, mask.cols}));
  const Validation v = check_mask(mask);
  require(v.ok(), "Sp24Weight::from_dense", v.problem, shape_str({w.rows(), w.cols()}));
  Sp24Weight s;
  s.k = w.rows();
  s.n = w.cols();
  s.k_pad = round_up(s.k, kTileK);
  s.n_pad = round_up(s.n, kTileRows);
  s.dtype = w.dtype();
  s.values.assign(static_cast<std::size_t>(s.n_pad * s.k_pad / 2), 0.0f);
  s.metadata.assign(static_cast<std::size_t>(s.n_pad * s.k_pad / 32), 0u);
  for (std::int64_t j = 0; j < s.n_pad; ++j) {
    for (std::int64_t grp = 0; grp < s.k_pad / 4; ++grp) {
      std::array<bool, 4> keep{};
      int count = 0;
      for (int p = 0; p < 4; ++p) {
        const std::int64_t kk = 4 * grp + p;
        keep[p] = j < s.n && kk < s.k && mask(kk, j);
        count += keep[p];
      }
      // mma.sp needs two distinct ascending indices: pad with the lowest unused positions.
      for (int p = 0; p < 4 && count < 2; ++p)
        if (!keep[p]) {
          keep[p] = true;
          ++count;
        }
      int slot = 0;
      for (int p = 0; p < 4; ++p) {
        if (!keep[p]) continue;
        const std::int64_t kk = 4 * grp + p;
        const bool real = j < s.n && kk < s.k && mask(kk, j);
        s.values[static_cast<std::size_t>(j * (s.k_pad / 2) + 2 * grp + slot)] = real ? w(kk, j) : 0.0f;
        const MetaBits b = meta_bits(s.k_pad, j, grp, slot);
        s.metadata[static_cast<std::size_t>(b.word)] |= static_cast<std::uint32_t>(p) << b.shift;
        ++slot;
      }
    }
  }
  return s;
}

Validation Sp24Weight::validate() const {
  if (Validation v = detail::check_dims(k, n); !v) return v;
  if (k_pad != round_up(k, kTileK))
    return Validation::fail("k_pad " + std::to_string(k_pad) + " is not k=" + std::to_string(k) +
                            " rounded up to a multiple of 32");
  if (n_pad != round_up(n, kTileRows))
    return Validation::fail("n_pad " + std::to_string(n_pad) + " is not n=" + std::to_string(n) +
                            " rounded up to a multiple of 16");
  if (static_cast<std::int64_t>(values.size()) != n_pad * k_pad / 2)
    return Validation::fail("values has " + std::to_string(values.size()) + " entries, expected n_pad*k_pad/2 = " +
                            std::to_string(n_pad * k_pad / 2));
  if (static_cast<std::int64_t>(metadata.size()) != n_pad * k_pad / 32)
    return Validation::fail("metadata has " + std::to_string(metadata.size()) +
                            " words, expected n_pad*k_pad/32 = " + std::to_string(n_pad * k_pad / 32));
  if (Validation v = detail::check_representable(values, dtype, "values"); !v) return v;
  for (std::int64_t j = 0; j < n_pad; ++j) {
    for (std::int64_t grp = 0; grp < k_pad / 4; ++grp) {
      const int p0 = position(j, grp, 0), p1 = position(j, grp, 1);
      if (p0 >= p1)
        return Validation::fail(group_name(j, grp) + ": indices " + std::to_string(p0) + ", " + std::to_string(p1) +
                                " are not strictly ascending (mma.sp needs two distinct ordered indices)");
      for (int slot = 0; slot < 2; ++slot) {
        const std::int64_t kk = 4 * grp + (slot == 0 ? p0 : p1);
        const float v = values[static_cast<std::size_t>(j * (k_pad / 2) + 2 * grp + slot)];
        if ((j >= n || kk >= k) && v != 0.0f)
          return Validation::fail(group_name(j, grp) + ", slot " + std::to_string(slot) +
                                  ": padding position holds nonzero " + std::to_string(v));
      }
    }
  }
  return {};
}

HostMatrix Sp24Weight::to_dense() const {
  HostMatrix d(k, n, dtype);
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t grp = 0; grp < k_pad / 4; ++grp)
      for (int slot = 0; slot < 2; ++slot) {
        const std::int64_t kk = 4 * grp + position(j, grp, slot);
        if (kk < k) d.set(kk, j, values[static_cast<std::size_t>(j * (k_pad / 2) + 2 * grp + slot)]);
      }
  return d;
}

std::int64_t Sp24Weight::kept() const { return detail::count_nonzero(values); }

std::size_t Sp24Weight::bytes() const { return values.size() * size_of(dtype) + metadata.size() * sizeof(std::uint32_t); }

FormatArrays Sp24Weight::to_arrays() const {
  FormatArrays fa = detail::make_format_arrays(Pattern::sp24, k, n, dtype);
  fa.arrays["values"] = detail::values_tensor(values, dtype, {n_pad, k_pad / 2});
  fa.arrays["metadata"] = Tensor::from_vector(metadata, {static_cast<std::int64_t>(metadata.size())});
  return fa;
}

Sp24Weight Sp24Weight::from_arrays(const FormatArrays& fa) {
  const detail::ArraysHeader h = detail::read_header(fa, Pattern::sp24);
  Sp24Weight s;
  s.k = h.k;
  s.n = h.n;
  s.k_pad = round_up(s.k, kTileK);
  s.n_pad = round_up(s.n, kTileRows);
  s.dtype = h.dtype;
  s.values = detail::read_values(fa, "values", s.dtype, {s.n_pad, s.k_pad / 2});
  s.metadata = detail::read_array<std::uint32_t>(fa, "metadata", {s.n_pad * s.k_pad / 32});
  return s;
}

}  // namespace tilesparse
