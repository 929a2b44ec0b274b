#include <algorithm>
#include <thread>
#include <vector>

#include "backends/ref/matmul_ref.hpp"

namespace tilesparse::ref {

void parallel_rows(std::int64_t rows, std::int64_t work_per_row,
                   const std::function<void(std::int64_t, std::int64_t)>& fn) {
  constexpr std::int64_t kMinWorkPerThread = 1 << 16;
  const std::int64_t hw = std::max<std::int64_t>(1, std::thread::hardware_concurrency());
  const std::int64_t by_work = std::max<std::int64_t>(1, rows * std::max<std::int64_t>(work_per_row, 1) / kMinWorkPerThread);
  const std::int64_t threads = std::min({hw, by_work, std::max<std::int64_t>(rows, 1)});
  if (threads <= 1) {
    fn(0, rows);
    return;
  }
  std::vector<std::thread> pool;
  const std::int64_t chunk = (rows + threads - 1) / threads;
  for (std::int64_t t = 0; t < threads; ++t) {
    const std::int64_t begin = t * chunk, end = std::min(rows, begin + chunk);
    if (begin >= end) break;
    pool.emplace_back(fn, begin, end);
  }
  for (auto& th : pool) th.join();
}

}  // namespace tilesparse::ref
