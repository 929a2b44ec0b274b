#pragma once
// CPU reference matmuls: plain loops, double accumulation, rows split across threads.
// One function per format; each computes acc[M x N] = A · W (no epilogue) in double.
#include <functional>
#include <vector>

#include "tilesparse/core/matrix.hpp"
#include "tilesparse/formats/weight.hpp"

namespace tilesparse::ref {

using Accumulator = std::vector<double>;  // M x N row-major

Accumulator matmul_dense(const HostMatrix& a, const DenseWeight& w);
Accumulator matmul_ew(const HostMatrix& a, const EwWeight& w);
Accumulator matmul_bw(const HostMatrix& a, const BwWeight& w);
Accumulator matmul_nm(const HostMatrix& a, const NmWeight& w);
Accumulator matmul_sp24(const HostMatrix& a, const Sp24Weight& w);
Accumulator matmul_tw(const HostMatrix& a, const TwWeight& w);
Accumulator matmul_tew(const HostMatrix& a, const TewWeight& w);

// Runs fn(row_begin, row_end) over [0, rows) on up to hardware_concurrency threads,
// in one thread when the work (rows*work_per_row) is small.
void parallel_rows(std::int64_t rows, std::int64_t work_per_row,
                   const std::function<void(std::int64_t, std::int64_t)>& fn);

}  // namespace tilesparse::ref
