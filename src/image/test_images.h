#pragma once

// Test helpers: images made on the fly with libvips, and perceptual comparisons.

#include <string>
#include <vector>
#include <vips/vips8>

namespace imgflow::image::testing {

// A w×h sRGB image of one colour.
vips::VImage solid(int width, int height, std::vector<double> rgb);
// A smooth colourful test card (gradients in all three channels).
vips::VImage test_card(int width, int height);

// Encodes with the saver for `suffix` (".jpg", ".gif", ".avif", ...).
std::string save(const vips::VImage& image, const char* suffix, vips::VOption* options = nullptr);

std::string to_jpeg(const vips::VImage& image, int quality = 92);
std::string to_png(const vips::VImage& image);

// Decodes any buffer with libvips' own dispatcher (tests only: trusted bytes).
vips::VImage decode(const std::string& bytes);

// Mean absolute difference per band value (0..255) after resizing `b` to `a`'s size.
double mean_abs_diff(const vips::VImage& a, const vips::VImage& b);

// The pixel values at (x, y).
std::vector<double> pixel(const vips::VImage& image, int x, int y);

}  // namespace imgflow::image::testing
