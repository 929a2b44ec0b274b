#include "tilesparse/formats/bw.hpp"

#include <algorithm>

#include "src/formats/format_arrays.hpp"
#include "src/formats/structure_checks.hpp"

namespace tilesparse {

namespace {

// "block (kb=1, nb=2) at rows 32..63, columns 64..95", clipped to the matrix.
std::string block_name(std::int64_t kb, std::int64_t nb, std::int64_t bk, std::int64_t bn, std::int64_t k,
                       std::int64_t n) {
  return "block (kb=" + std::to_string(kb) + ", nb=" + std::to_string(nb) + ") at rows " + std::to_string(kb * bk) +
         ".." + std::to_string(std::min(k, (kb + 1) * bk) - 1) + ", columns " + std::to_string(nb * bn) + ".." +
         std::to_string(std::min(n, (nb + 1) * bn) - 1);
}

Validation check_block_sides(std::int64_t bk, std::int64_t bn) {
  if (bk < 1 || bn < 1 || bk > detail::kMaxDim || bn > detail::kMaxDim)
    return Validation::fail("block sides bk = " + std::to_string(bk) + ", bn = " + std::to_string(bn) +
                            " must be in [1, " + std::to_string(detail::kMaxDim) + "]");
  return {};
}

}  // namespace

Validation BwWeight::check_mask(const Mask& mask, std::int64_t bk, std::int64_t bn) {
  if (auto v = check_block_sides(bk, bn); !v) return v;
  if (auto v = detail::check_mask_shape(mask); !v) return v;
  const std::int64_t k = mask.rows, n = mask.cols;
  for (std::int64_t k0 = 0; k0 < k; k0 += bk) {
    const std::int64_t k1 = std::min(k, k0 + bk);
    for (std::int64_t n0 = 0; n0 < n; n0 += bn) {
      const std::int64_t n1 = std::min(n, n0 + bn);
      std::int64_t kept = 0;
      for (std::int64_t r = k0; r < k1; ++r)
        for (std::int64_t c = n0; c < n1; ++c) kept += mask(r, c);
      const std::int64_t size = (k1 - k0) * (n1 - n0);
      if (kept != 0 && kept != size)
        return Validation::fail(block_name(k0 / bk, n0 / bn, bk, bn, k, n) + " keeps " + std::to_string(kept) +
                                " of its " + std::to_string(size) +
                                " elements: a block must be kept whole or pruned whole");
    }
  }
  return {};
}

BwWeight BwWeight::from_dense(const HostMatrix& w, const Mask& mask, std::int64_t bk, std::int64_t bn) {
  const std::string shapes = shape_str({w.rows(), w.cols()}) + " blocks " + shape_str({bk, bn});
  require(mask.rows == w.rows() && mask.cols == w.cols(), "BwWeight::from_dense", "mask shape differs from weight",
          shapes + " vs mask " + shape_str({mask.rows, mask.cols}));
  if (auto v = check_mask(mask, bk, bn); !v) throw Error("BwWeight::from_dense", v.problem, shapes);
  BwWeight b;
  b.k = w.rows();
  b.n = w.cols();
  b.bk = bk;
  b.bn = bn;
  b.dtype = w.dtype();
  b.row_ptr.push_back(0);
  for (std::int64_t nb = 0; nb < b.block_rows(); ++nb) {
    const std::int64_t n0 = nb * bn, cols = std::min(bn, b.n - n0);
    for (std::int64_t kb = 0; kb < b.block_cols(); ++kb) {
      const std::int64_t k0 = kb * bk, rows = std::min(bk, b.k - k0);
      // check_mask made blocks all-or-nothing, so the corner element decides.
      if (!mask(k0, n0)) continue;
      b.kb_idx.push_back(static_cast<std::int32_t>(kb));
      const std::size_t base = b.values.size();
      b.values.resize(base + static_cast<std::size_t>(bn * bk), 0.0f);
      for (std::int64_t jn = 0; jn < cols; ++jn)
        for (std::int64_t jk = 0; jk < rows; ++jk) b.values[base + jn * bk + jk] = w(k0 + jk, n0 + jn);
    }
    b.row_ptr.push_back(b.blocks());
  }
  return b;
}

Validation BwWeight::validate() const {
  if (auto v = detail::check_dims(k, n); !v) return v;
  if (auto v = check_block_sides(bk, bn); !v) return v;
  if (auto v = detail::check_compressed_rows({row_ptr, kb_idx, block_rows(), block_cols(), "row_ptr", "kb_idx",
                                              "block row"});
      !v)
    return v;
  std::int64_t want = 0;
  if (!detail::checked_product({blocks(), bn, bk}, want) || static_cast<std::int64_t>(values.size()) != want)
    return Validation::fail("values has " + std::to_string(values.size()) + " entries, expected blocks x bn x bk = " +
                            std::to_string(blocks()) + " x " + std::to_string(bn) + " x " + std::to_string(bk));
  // Kernels read edge blocks whole, so their padding must add nothing.
  for (std::int64_t nb = 0; nb < block_rows(); ++nb) {
    const std::int64_t cols = std::min(bn, n - nb * bn);
    for (std::int64_t p = row_ptr[nb]; p < row_ptr[nb + 1]; ++p) {
      const std::int64_t rows = std::min(bk, k - kb_idx[p] * bk);
      if (rows == bk && cols == bn) continue;
      for (std::int64_t jn = 0; jn < bn; ++jn)
        for (std::int64_t jk = (jn < cols ? rows : 0); jk < bk; ++jk) {
          const float x = values[(p * bn + jn) * bk + jk];
          if (x != 0.0f)
            return Validation::fail("padding of stored block " + std::to_string(p) + " (" +
                                    block_name(kb_idx[p], nb, bk, bn, k, n) + ") holds " + std::to_string(x) +
                                    " at [" + std::to_string(jn) + "][" + std::to_string(jk) +
                                    "]: edge blocks must be zero-padded");
        }
    }
  }
  return detail::check_representable(values, dtype, "values");
}

HostMatrix BwWeight::to_dense() const {
  HostMatrix w(k, n, dtype);
  auto out = w.mutable_values();
  for (std::int64_t nb = 0; nb < block_rows(); ++nb) {
    const std::int64_t n0 = nb * bn, cols = std::min(bn, n - n0);
    for (std::int64_t p = row_ptr[nb]; p < row_ptr[nb + 1]; ++p) {
      const std::int64_t k0 = kb_idx[p] * bk, rows = std::min(bk, k - k0);
      for (std::int64_t jn = 0; jn < cols; ++jn)
        for (std::int64_t jk = 0; jk < rows; ++jk) out[(k0 + jk) * n + n0 + jn] = values[(p * bn + jn) * bk + jk];
    }
  }
  return w;
}

std::int64_t BwWeight::kept() const { return detail::count_nonzero(values); }

std::size_t BwWeight::bytes() const {
  return values.size() * size_of(dtype) + row_ptr.size() * sizeof(std::int64_t) + kb_idx.size() * sizeof(std::int32_t);
}

FormatArrays BwWeight::to_arrays() const {
  FormatArrays fa = detail::make_format_arrays(Pattern::bw, k, n, dtype);
  fa.meta["bk"] = std::to_string(bk);
  fa.meta["bn"] = std::to_string(bn);
  fa.arrays["row_ptr"] = Tensor::from_vector(row_ptr, {static_cast<std::int64_t>(row_ptr.size())});
  fa.arrays["kb_idx"] = Tensor::from_vector(kb_idx, {blocks()});
  fa.arrays["values"] = detail::values_tensor(values, dtype, {blocks(), bn, bk});
  return fa;
}

BwWeight BwWeight::from_arrays(const FormatArrays& fa) {
  const auto h = detail::read_header(fa, Pattern::bw);
  BwWeight b;
  b.k = h.k;
  b.n = h.n;
  b.dtype = h.dtype;
  b.bk = detail::meta_int_at_most(fa, "bk", detail::kMaxDim);
  b.bn = detail::meta_int_at_most(fa, "bn", detail::kMaxDim);
  if (auto v = check_block_sides(b.bk, b.bn); !v) throw Error("from_arrays", v.problem);
  b.row_ptr = detail::read_array<std::int64_t>(fa, "row_ptr", {b.block_rows() + 1});
  b.kb_idx = detail::read_array_1d<std::int32_t>(fa, "kb_idx");
  b.values = detail::read_values(fa, "values", h.dtype, {b.blocks(), b.bn, b.bk});
  return b;
}

}  // namespace tilesparse
