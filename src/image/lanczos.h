#pragma once

// Lanczos3 reduction of 8-bit band-interleaved pixels held in memory.
//
// Why it exists: libvips 8.14 reduces horizontally in plain scalar C, one band at a time, and it
// was a quarter of the engine's CPU; its vectorised vertical pass still pays for a libvips
// pipeline stage of its own. This is the same filter (centre-aligned Lanczos3, edge pixels
// repeated) with the taps of every output row and column computed once, in fixed point, and
// SSE2 loops, AVX2 ones where the CPU has it (a scalar path elsewhere).

#include <cstddef>
#include <cstdint>
#include <vector>

namespace imgflow::image::detail {

// Filter taps mapping `in_size` samples onto fewer output samples, for every output sample.
struct Lanczos3Taps {
  int in_size = 0;
  int out_size = 0;
  int count = 0;                      // taps per output sample, the same for all of them
  std::vector<int> first;             // per output: index of its first input sample
  std::vector<std::int16_t> weights;  // per output: `count` weights that sum to kWeightOne
  // The same weights as 32-bit pairs (w_k, w_k+1; a zero after an odd last one), each pair four
  // times over: ready-made SSE operands, so the horizontal loops spend no shuffle on them.
  // Outputs go two at a time, x even and x + 1: for each pair of taps, 8 values, x's pair four
  // times then x + 1's (zeros past the last output). One output's pairs are 128-bit operands
  // 8 values apart; both outputs' are one 256-bit operand, for the AVX2 loop.
  std::vector<std::int32_t> pairs;
};

inline constexpr int kWeightBits = 14;
inline constexpr int kWeightOne = 1 << kWeightBits;

// The taps for reducing `in_size` samples to `out_size` (1 <= out_size <= in_size). Output
// sample x is centred on input position (x + 0.5) * in_size / out_size, as in libvips. Taps that
// fall past an edge read the edge sample (libvips' VIPS_EXTEND_COPY); they are folded into the
// window so every window lies inside the input. Requires in_size >= lanczos3_tap_count(...).
Lanczos3Taps lanczos3_taps(int in_size, int out_size);

// Taps per output sample for that reduction: callers check it against in_size first.
int lanczos3_tap_count(int in_size, int out_size);

// Reduces `rows` rows of taps.in_size pixels of `bands` bytes (1..4) to taps.out_size pixels.
// Rows start `in_stride` and `out_stride` bytes apart.
void reduce_rows(const std::uint8_t* in, std::size_t in_stride, int rows, int bands,
                 const Lanczos3Taps& taps, std::uint8_t* out, std::size_t out_stride);

// The horizontal loops behind reduce_rows, narrowest first. Each vector loop does what it can
// of a row (3 and 4 bands; the pixels whose reads would pass the end of the row are left over)
// and hands the rest to the next narrower one.
enum class RowKernel { kScalar, kSse2, kAvx2 };

// Whether this build and CPU can run `kernel`.
bool row_kernel_available(RowKernel kernel);

// reduce_rows with `widest` as the widest loop instead of the widest available one: for tests
// that compare the loops bit for bit. Requires row_kernel_available(widest).
void reduce_rows_with(RowKernel widest, const std::uint8_t* in, std::size_t in_stride, int rows,
                      int bands, const Lanczos3Taps& taps, std::uint8_t* out,
                      std::size_t out_stride);

// The vertical pass for one output row: combines taps.count input rows, starting at `rows` and
// `stride` bytes apart, with the weights of output row `y`, over `bytes` bytes.
void reduce_column_taps(const std::uint8_t* rows, std::size_t stride, const Lanczos3Taps& taps,
                        int y, std::size_t bytes, std::uint8_t* out);

}  // namespace imgflow::image::detail
