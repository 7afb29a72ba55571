#include "image/lanczos.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <numbers>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
// AVX2 loops, compiled with a target attribute and chosen at run time: the build targets
// baseline x86-64.
#define IMGFLOW_HAVE_AVX2_PATH 1
#endif

namespace imgflow::image::detail {
namespace {

constexpr double kLobes = 3.0;

double sinc(double x) {
  if (x == 0.0) return 1.0;
  const double px = std::numbers::pi * x;
  return std::sin(px) / px;
}

double lanczos3(double x) { return std::abs(x) < kLobes ? sinc(x) * sinc(x / kLobes) : 0.0; }

// Rounds weights that sum to 1 into fixed point that sums to exactly kWeightOne, so a flat area
// stays exactly flat (no faint bands or edges where the rounding would drift).
void to_fixed_point(const std::vector<double>& w, std::int16_t* out) {
  int sum = 0;
  std::size_t largest = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    out[i] = static_cast<std::int16_t>(std::lround(w[i] * kWeightOne));
    sum += out[i];
    if (w[i] > w[largest]) largest = i;
  }
  out[largest] = static_cast<std::int16_t>(out[largest] + (kWeightOne - sum));
}

// One output sample's weights over the window [window_first, window_first + count).
void weights_for(int x, double scale, int count, int window_first, int in_size,
                 std::vector<double>& w) {
  const double support = kLobes * scale;
  const double centre = (x + 0.5) * scale;
  const int first = static_cast<int>(std::ceil(centre - support - 0.5));
  std::fill(w.begin(), w.end(), 0.0);
  double total = 0.0;
  for (int i = first; i < first + count; ++i) {
    const double weight = lanczos3((i + 0.5 - centre) / scale);
    const int clamped = std::clamp(i, 0, in_size - 1);  // edge samples repeat
    w[static_cast<std::size_t>(clamped - window_first)] += weight;
    total += weight;
  }
  for (double& v : w) v /= total;
}

// One output pixel, any band count.
template <int kBands>
void reduce_pixel(const std::uint8_t* p, const std::int16_t* weights, int count,
                  std::uint8_t* out) {
  std::int32_t sum[kBands];
  for (int b = 0; b < kBands; ++b) sum[b] = kWeightOne / 2;  // round to nearest
  for (int k = 0; k < count; ++k, p += kBands) {
    for (int b = 0; b < kBands; ++b) sum[b] += weights[k] * p[b];
  }
  for (int b = 0; b < kBands; ++b)
    out[b] = static_cast<std::uint8_t>(std::clamp(sum[b] >> kWeightBits, 0, 255));
}

template <int kBands>
void reduce_row_scalar(const std::uint8_t* in, const Lanczos3Taps& taps, int x_begin,
                       std::uint8_t* out) {
  for (int x = x_begin; x < taps.out_size; ++x) {
    reduce_pixel<kBands>(in + static_cast<std::ptrdiff_t>(taps.first[x]) * kBands,
                         &taps.weights[static_cast<std::size_t>(x) * taps.count], taps.count,
                         out + static_cast<std::ptrdiff_t>(x) * kBands);
  }
}

#if defined(IMGFLOW_HAVE_AVX2_PATH)
bool has_avx2() {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
}
#endif

int pair_count(const Lanczos3Taps& taps) { return (taps.count + 1) / 2; }

// The first of output x's input pixels.
template <int kBands>
const std::uint8_t* window(const std::uint8_t* in, const Lanczos3Taps& taps, int x) {
  return in + static_cast<std::ptrdiff_t>(taps.first[static_cast<std::size_t>(x)]) * kBands;
}

// Where output x's first weight pair starts in taps.pairs (`pairs` pairs per output): a 128-bit
// half of each 256-bit row of its output pair (the layout is in lanczos.h).
std::size_t pairs_offset(int x, int pairs) {
  return static_cast<std::size_t>(x / 2) * static_cast<std::size_t>(pairs) * 8 +
         static_cast<std::size_t>(x % 2) * 4;
}

const std::int32_t* pairs_of(const Lanczos3Taps& taps, int x) {
  return &taps.pairs[pairs_offset(x, pair_count(taps))];
}

// The vector loops read 8 bytes from each pixel of a pair of taps, so past the end of the window
// by up to a pixel and 8 bytes; near the end of the row that would pass the end of the row.
bool vector_reads_fit(const Lanczos3Taps& taps, int x) {
  return taps.first[static_cast<std::size_t>(x)] + taps.count + 3 <= taps.in_size;
}

// Stores the 3 or 4 bands of a pixel from the low 32 bits of `bytes`.
template <int kBands>
void store_pixel(std::uint32_t bytes, std::uint8_t* out) {
  std::memcpy(out, &bytes, kBands);
}

#if defined(__SSE2__)

// 3 or 4 bands, two taps per step with pmaddwd: the bytes of pixels k and k+1 are interleaved
// band by band (r0 r1 g0 g1 b0 b1 ...) and multiplied by (w0 w1 w0 w1 ...), which leaves one
// 32-bit sum per band. Reads 8 bytes from each of pixel k and k+1 (k + 1 may be one past the
// taps), so it stops at the first output whose reads would pass the end of the row and returns
// its index: the rest take the scalar path.
template <int kBands>
int reduce_row_sse2(const std::uint8_t* in, const Lanczos3Taps& taps, int x_begin,
                    std::uint8_t* out) {
  static_assert(kBands == 3 || kBands == 4);
  constexpr std::ptrdiff_t kPairBytes = std::ptrdiff_t{2} * kBands;  // a pair of taps: two pixels
  const int pairs = pair_count(taps);
  const __m128i zero = _mm_setzero_si128();
  const __m128i round = _mm_set1_epi32(kWeightOne / 2);
  int x = x_begin;
  for (; x < taps.out_size && vector_reads_fit(taps, x); ++x) {
    const std::uint8_t* p = window<kBands>(in, taps, x);
    const std::int32_t* w = pairs_of(taps, x);
    __m128i sum = round;
    for (int i = 0; i < pairs; ++i, p += kPairBytes, w += 8) {
      const __m128i a = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + kBands));
      const __m128i pixels = _mm_unpacklo_epi8(_mm_unpacklo_epi8(a, b), zero);
      const __m128i weights = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w));
      sum = _mm_add_epi32(sum, _mm_madd_epi16(pixels, weights));
    }
    // 32-bit sums, shifted, saturated to 16 then to 8 bits: the clamp to 0..255.
    const __m128i shifted = _mm_srai_epi32(sum, kWeightBits);
    const __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(shifted, shifted), zero);
    store_pixel<kBands>(static_cast<std::uint32_t>(_mm_cvtsi128_si32(bytes)),
                        out + static_cast<std::ptrdiff_t>(x) * kBands);
  }
  return x;
}

#endif

#if defined(IMGFLOW_HAVE_AVX2_PATH)

// pshufb control that turns pixels k and k+1 (the first 2 * kBands bytes of each lane) into the
// 16-bit pairs (k.band, k+1.band) for bands 0..3 that pmaddwd wants; a fourth band that is not
// there reads as zero (a control byte with its top bit set).
template <int kBands>
__attribute__((target("avx2"))) __m256i interleave_pair_control() {
  alignas(32) std::int8_t control[32];
  for (int lane = 0; lane < 2; ++lane) {
    for (int band = 0; band < 4; ++band) {
      std::int8_t* word = &control[lane * 16 + band * 4];
      word[0] = band < kBands ? static_cast<std::int8_t>(band) : -1;
      word[1] = -1;
      word[2] = band < kBands ? static_cast<std::int8_t>(kBands + band) : -1;
      word[3] = -1;
    }
  }
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(control));
}

// 8 bytes from `low` in the low 128-bit lane, 8 from `high` in the high one (each twice over).
// Broadcast loads and a blend rather than an insert: they keep off the shuffle port, which the
// pshufb after them needs.
__attribute__((target("avx2"))) __m256i load_two_lanes(const std::uint8_t* low,
                                                       const std::uint8_t* high) {
  long long a;
  long long b;
  std::memcpy(&a, low, sizeof a);
  std::memcpy(&b, high, sizeof b);
  return _mm256_blend_epi32(_mm256_set1_epi64x(a), _mm256_set1_epi64x(b), 0xf0);
}

// The SSE2 loop for two outputs at once, x in the low 128-bit lane and x + 1 in the high one
// (each lane does what the SSE2 loop does; taps.pairs holds the weights of x and x + 1 side by
// side). It reads no further than the SSE2 loop (8 bytes from pixel k alone), so it stops by
// the same rule, decided by x + 1 as windows never move left; the SSE2 and scalar paths go on
// from the returned index.
template <int kBands>
__attribute__((target("avx2"))) int reduce_row_avx2(const std::uint8_t* in,
                                                    const Lanczos3Taps& taps, std::uint8_t* out) {
  static_assert(kBands == 3 || kBands == 4);
  constexpr std::ptrdiff_t kPairBytes = std::ptrdiff_t{2} * kBands;  // a pair of taps: two pixels
  const int pairs = pair_count(taps);
  const __m256i interleave = interleave_pair_control<kBands>();
  const __m256i round = _mm256_set1_epi32(kWeightOne / 2);
  int x = 0;
  for (; x + 1 < taps.out_size && vector_reads_fit(taps, x + 1); x += 2) {
    const std::uint8_t* p = window<kBands>(in, taps, x);
    const std::uint8_t* q = window<kBands>(in, taps, x + 1);
    const std::int32_t* w = pairs_of(taps, x);
    __m256i sum = round;
    for (int i = 0; i < pairs; ++i, p += kPairBytes, q += kPairBytes, w += 8) {
      const __m256i pixels = _mm256_shuffle_epi8(load_two_lanes(p, q), interleave);
      const __m256i weights = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
      sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pixels, weights));
    }
    // As in the SSE2 loop; packs work within each lane, so each lane's first 4 bytes are a pixel.
    const __m256i shifted = _mm256_srai_epi32(sum, kWeightBits);
    const __m256i bytes =
        _mm256_packus_epi16(_mm256_packs_epi32(shifted, shifted), _mm256_setzero_si256());
    std::uint8_t* o = out + static_cast<std::ptrdiff_t>(x) * kBands;
    store_pixel<kBands>(static_cast<std::uint32_t>(_mm256_extract_epi32(bytes, 0)), o);
    store_pixel<kBands>(static_cast<std::uint32_t>(_mm256_extract_epi32(bytes, 4)), o + kBands);
  }
  return x;
}

#endif

// Every vector loop the build and CPU allow for this band count, widest first, each going on
// from where the previous stopped; the scalar loop finishes the row.
template <int kBands>
void reduce_row(RowKernel widest, const std::uint8_t* in, const Lanczos3Taps& taps,
                std::uint8_t* out) {
  int x = 0;
#if defined(__SSE2__)
  if constexpr (kBands >= 3) {
#if defined(IMGFLOW_HAVE_AVX2_PATH)
    if (widest == RowKernel::kAvx2) x = reduce_row_avx2<kBands>(in, taps, out);
#endif
    if (widest != RowKernel::kScalar) x = reduce_row_sse2<kBands>(in, taps, x, out);
  }
#endif
  reduce_row_scalar<kBands>(in, taps, x, out);
}

template <int kBands>
void reduce_all(RowKernel widest, const std::uint8_t* in, std::size_t in_stride, int rows,
                const Lanczos3Taps& taps, std::uint8_t* out, std::size_t out_stride) {
  for (int y = 0; y < rows; ++y)
    reduce_row<kBands>(widest, in + y * in_stride, taps, out + y * out_stride);
}

RowKernel widest_row_kernel() {
#if defined(IMGFLOW_HAVE_AVX2_PATH)
  if (has_avx2()) return RowKernel::kAvx2;
#endif
#if defined(__SSE2__)
  return RowKernel::kSse2;
#else
  return RowKernel::kScalar;
#endif
}

// One weight pair (w_k, w_k+1) as the 32 bits pmaddwd multiplies a pair of 16-bit pixels by.
std::int32_t weight_pair(std::int16_t low, std::int16_t high) {
  return static_cast<std::int32_t>(std::uint32_t(static_cast<std::uint16_t>(low)) |
                                   std::uint32_t(static_cast<std::uint16_t>(high)) << 16);
}

// The layout of Lanczos3Taps::pairs (see lanczos.h).
std::vector<std::int32_t> replicated_pairs(const Lanczos3Taps& taps) {
  const int pairs = pair_count(taps);
  const int out_pairs = (taps.out_size + 1) / 2;
  std::vector<std::int32_t> out(static_cast<std::size_t>(out_pairs) * pairs * 8, 0);
  for (int x = 0; x < taps.out_size; ++x) {
    const std::int16_t* w = &taps.weights[static_cast<std::size_t>(x) * taps.count];
    std::int32_t* row = &out[pairs_offset(x, pairs)];
    for (int k = 0; k < taps.count; k += 2, row += 8) {
      std::fill_n(row, 4, weight_pair(w[k], k + 1 < taps.count ? w[k + 1] : std::int16_t{0}));
    }
  }
  return out;
}

std::uint8_t to_byte(std::int32_t sum) {
  return static_cast<std::uint8_t>(std::clamp(sum >> kWeightBits, 0, 255));
}

void reduce_column_taps_scalar(const std::uint8_t* rows, std::size_t stride,
                               const std::int16_t* weights, int count, std::size_t begin,
                               std::size_t end, std::uint8_t* out) {
  for (std::size_t i = begin; i < end; ++i) {
    std::int32_t sum = kWeightOne / 2;
    for (int k = 0; k < count; ++k) sum += weights[k] * rows[k * stride + i];
    out[i] = to_byte(sum);
  }
}

#if defined(__SSE2__)

// Sixteen bytes of two rows at once: bytes of row k and k+1 interleaved, widened to 16 bits and
// multiplied by (w_k, w_k+1) pairs with pmaddwd.
std::size_t reduce_column_taps_sse2(const std::uint8_t* rows, std::size_t stride,
                                    const std::int16_t* weights, int count, std::size_t bytes,
                                    std::uint8_t* out) {
  const __m128i zero = _mm_setzero_si128();
  const __m128i round = _mm_set1_epi32(kWeightOne / 2);
  std::size_t i = 0;
  for (; i + 16 <= bytes; i += 16) {
    __m128i sum[4] = {round, round, round, round};
    int k = 0;
    for (; k + 1 < count; k += 2) {
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows + k * stride + i));
      const __m128i b =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows + (k + 1) * stride + i));
      std::int32_t pair;
      std::memcpy(&pair, weights + k, sizeof pair);
      const __m128i w = _mm_set1_epi32(pair);
      const __m128i lo = _mm_unpacklo_epi8(a, b);
      const __m128i hi = _mm_unpackhi_epi8(a, b);
      sum[0] = _mm_add_epi32(sum[0], _mm_madd_epi16(_mm_unpacklo_epi8(lo, zero), w));
      sum[1] = _mm_add_epi32(sum[1], _mm_madd_epi16(_mm_unpackhi_epi8(lo, zero), w));
      sum[2] = _mm_add_epi32(sum[2], _mm_madd_epi16(_mm_unpacklo_epi8(hi, zero), w));
      sum[3] = _mm_add_epi32(sum[3], _mm_madd_epi16(_mm_unpackhi_epi8(hi, zero), w));
    }
    if (k < count) {  // odd tap count: the last row with a zero partner
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows + k * stride + i));
      const __m128i w = _mm_set1_epi32(std::uint16_t(weights[k]));
      const __m128i lo = _mm_unpacklo_epi8(a, zero);
      const __m128i hi = _mm_unpackhi_epi8(a, zero);
      sum[0] = _mm_add_epi32(sum[0], _mm_madd_epi16(_mm_unpacklo_epi8(lo, zero), w));
      sum[1] = _mm_add_epi32(sum[1], _mm_madd_epi16(_mm_unpackhi_epi8(lo, zero), w));
      sum[2] = _mm_add_epi32(sum[2], _mm_madd_epi16(_mm_unpacklo_epi8(hi, zero), w));
      sum[3] = _mm_add_epi32(sum[3], _mm_madd_epi16(_mm_unpackhi_epi8(hi, zero), w));
    }
    for (__m128i& v : sum) v = _mm_srai_epi32(v, kWeightBits);
    const __m128i words_lo = _mm_packs_epi32(sum[0], sum[1]);
    const __m128i words_hi = _mm_packs_epi32(sum[2], sum[3]);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm_packus_epi16(words_lo, words_hi));
  }
  return i;
}

#endif

#if defined(IMGFLOW_HAVE_AVX2_PATH)

// The SSE2 loop above at twice the width, for CPUs that have AVX2 (chosen at run time: the
// build targets baseline x86-64). Unpacks and packs work within each 128-bit lane, and undo
// each other's lane order, so the bytes come out in place.
__attribute__((target("avx2"))) std::size_t reduce_column_taps_avx2(const std::uint8_t* rows,
                                                                    std::size_t stride,
                                                                    const std::int16_t* weights,
                                                                    int count, std::size_t bytes,
                                                                    std::uint8_t* out) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i round = _mm256_set1_epi32(kWeightOne / 2);
  std::size_t i = 0;
  for (; i + 32 <= bytes; i += 32) {
    __m256i sum[4] = {round, round, round, round};
    for (int k = 0; k < count; k += 2) {
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows + k * stride + i));
      const __m256i b =
          k + 1 < count
              ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows + (k + 1) * stride + i))
              : zero;
      const std::uint16_t high = k + 1 < count ? static_cast<std::uint16_t>(weights[k + 1]) : 0;
      const __m256i w = _mm256_set1_epi32(static_cast<std::int32_t>(
          std::uint32_t(static_cast<std::uint16_t>(weights[k])) | std::uint32_t(high) << 16));
      const __m256i lo = _mm256_unpacklo_epi8(a, b);
      const __m256i hi = _mm256_unpackhi_epi8(a, b);
      sum[0] = _mm256_add_epi32(sum[0], _mm256_madd_epi16(_mm256_unpacklo_epi8(lo, zero), w));
      sum[1] = _mm256_add_epi32(sum[1], _mm256_madd_epi16(_mm256_unpackhi_epi8(lo, zero), w));
      sum[2] = _mm256_add_epi32(sum[2], _mm256_madd_epi16(_mm256_unpacklo_epi8(hi, zero), w));
      sum[3] = _mm256_add_epi32(sum[3], _mm256_madd_epi16(_mm256_unpackhi_epi8(hi, zero), w));
    }
    for (__m256i& v : sum) v = _mm256_srai_epi32(v, kWeightBits);
    const __m256i words_lo = _mm256_packs_epi32(sum[0], sum[1]);
    const __m256i words_hi = _mm256_packs_epi32(sum[2], sum[3]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm256_packus_epi16(words_lo, words_hi));
  }
  return i;
}

#endif

}  // namespace

void reduce_column_taps(const std::uint8_t* rows, std::size_t stride, const Lanczos3Taps& taps,
                        int y, std::size_t bytes, std::uint8_t* out) {
  const std::int16_t* weights = &taps.weights[static_cast<std::size_t>(y) * taps.count];
  std::size_t done = 0;
#if defined(IMGFLOW_HAVE_AVX2_PATH)
  if (has_avx2()) done = reduce_column_taps_avx2(rows, stride, weights, taps.count, bytes, out);
#endif
#if defined(__SSE2__)
  done +=
      reduce_column_taps_sse2(rows + done, stride, weights, taps.count, bytes - done, out + done);
#endif
  reduce_column_taps_scalar(rows, stride, weights, taps.count, done, bytes, out);
}

int lanczos3_tap_count(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  // Inputs whose centres lie within kLobes * scale of the output's centre: at most this many.
  return static_cast<int>(std::floor(2 * kLobes * scale)) + 1;
}

Lanczos3Taps lanczos3_taps(int in_size, int out_size) {
  assert(out_size >= 1 && out_size <= in_size);
  Lanczos3Taps taps;
  taps.in_size = in_size;
  taps.out_size = out_size;
  taps.count = lanczos3_tap_count(in_size, out_size);
  assert(taps.count <= in_size);
  const double scale = static_cast<double>(in_size) / out_size;
  taps.first.resize(static_cast<std::size_t>(out_size));
  taps.weights.resize(static_cast<std::size_t>(out_size) * taps.count);
  std::vector<double> w(static_cast<std::size_t>(taps.count));
  for (int x = 0; x < out_size; ++x) {
    const double centre = (x + 0.5) * scale;
    const int first = static_cast<int>(std::ceil(centre - kLobes * scale - 0.5));
    const int window_first = std::clamp(first, 0, in_size - taps.count);
    weights_for(x, scale, taps.count, window_first, in_size, w);
    taps.first[static_cast<std::size_t>(x)] = window_first;
    to_fixed_point(w, &taps.weights[static_cast<std::size_t>(x) * taps.count]);
  }
  taps.pairs = replicated_pairs(taps);
  return taps;
}

bool row_kernel_available(RowKernel kernel) {
  switch (kernel) {
    case RowKernel::kScalar:
      return true;
    case RowKernel::kSse2:
      return widest_row_kernel() != RowKernel::kScalar;
    case RowKernel::kAvx2:
      return widest_row_kernel() == RowKernel::kAvx2;
  }
  return false;
}

void reduce_rows_with(RowKernel widest, const std::uint8_t* in, std::size_t in_stride, int rows,
                      int bands, const Lanczos3Taps& taps, std::uint8_t* out,
                      std::size_t out_stride) {
  assert(row_kernel_available(widest));
  switch (bands) {
    case 1:
      return reduce_all<1>(widest, in, in_stride, rows, taps, out, out_stride);
    case 2:
      return reduce_all<2>(widest, in, in_stride, rows, taps, out, out_stride);
    case 3:
      return reduce_all<3>(widest, in, in_stride, rows, taps, out, out_stride);
    case 4:
      return reduce_all<4>(widest, in, in_stride, rows, taps, out, out_stride);
    default:
      assert(false && "reduce_rows takes 1 to 4 bands");
  }
}

void reduce_rows(const std::uint8_t* in, std::size_t in_stride, int rows, int bands,
                 const Lanczos3Taps& taps, std::uint8_t* out, std::size_t out_stride) {
  reduce_rows_with(widest_row_kernel(), in, in_stride, rows, bands, taps, out, out_stride);
}

}  // namespace imgflow::image::detail
