// `imgflow process` as a user runs it: real binary, real files, exit codes and messages.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vips/vips8>

#include "function/manifest.h"
#include "run_command.h"

namespace imgflow {
namespace {

namespace fs = std::filesystem;
using testing::run_command;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

class CliProcess : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_EQ(VIPS_INIT("cli_process_test"), 0); }

  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("imgflow-cli-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path make_jpeg(const std::string& name, int w, int h) {
    const fs::path p = dir_ / name;
    vips::VImage::xyz(w, h)[0]
        .cast(VIPS_FORMAT_UCHAR)
        .bandjoin_const({90, 160})
        .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
        .jpegsave(p.c_str());
    return p;
  }

  fs::path dir_;
};

TEST_F(CliProcess, WritesEveryVariantAndAManifestPerFile) {
  const fs::path a = make_jpeg("a.jpg", 2000, 1000);
  const fs::path b = make_jpeg("b.jpg", 640, 480);
  const auto r = run_command({IMGFLOW_BINARY, "process", a, b, "--out", dir_ / "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"a.jpg", "b.jpg"}) {
    auto manifest = function::parse_manifest(read(dir_ / "out" / name / "manifest.json"));
    ASSERT_TRUE(manifest) << manifest.error().to_string();
    ASSERT_EQ(manifest->variants.size(), 3U);
    for (const auto& v : manifest->variants) {
      const fs::path file = dir_ / "out" / v.key;
      ASSERT_TRUE(fs::exists(file)) << file;
      EXPECT_EQ(fs::file_size(file), v.bytes);
      const vips::VImage img = vips::VImage::new_from_file(file.c_str());
      EXPECT_EQ(img.width(), v.width);
      EXPECT_EQ(img.height(), v.height);
    }
    EXPECT_EQ(manifest->source.key, name);
    EXPECT_EQ(manifest->source.sha256.size(), 64U);
    EXPECT_EQ(manifest->recipe_hash.size(), 64U);
  }
  auto a_manifest = function::parse_manifest(read(dir_ / "out" / "a.jpg" / "manifest.json"));
  EXPECT_EQ(a_manifest->variants[0].width, 1600);  // large: 1600 inside
  EXPECT_EQ(a_manifest->variants[0].height, 800);
}

TEST_F(CliProcess, ABadFileGetsOneLineAndTheOthersStillProcess) {
  const fs::path good = make_jpeg("good.jpg", 400, 300);
  const fs::path text = dir_ / "notes.jpg";
  write(text, "these are not pixels\n");
  const std::string jpeg = read(make_jpeg("full.jpg", 800, 600));
  const fs::path truncated = dir_ / "truncated.jpg";
  write(truncated, jpeg.substr(0, jpeg.size() / 3));

  const auto r = run_command({IMGFLOW_BINARY, "process", text, good, truncated, "--out",
                              dir_ / "out", "--jobs", "2", "--quiet"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(fs::exists(dir_ / "out" / "good.jpg" / "manifest.json"));
  EXPECT_FALSE(fs::exists(dir_ / "out" / "notes.jpg"));
  EXPECT_FALSE(fs::exists(dir_ / "out" / "truncated.jpg" / "manifest.json"));
  std::istringstream lines(r.err);
  std::string line;
  int count = 0;
  bool named_text = false;
  bool named_truncated = false;
  while (std::getline(lines, line)) {
    ++count;
    named_text |= line.find("notes.jpg: unsupported") != std::string::npos;
    named_truncated |= line.find("truncated.jpg: corrupt") != std::string::npos;
  }
  EXPECT_EQ(count, 2) << r.err;
  EXPECT_TRUE(named_text) << r.err;
  EXPECT_TRUE(named_truncated) << r.err;
}

TEST_F(CliProcess, ABadRecipeIsExitTwoWithItsPosition) {
  const fs::path config = dir_ / "imgflow.yaml";
  write(config, "variants:\n  - name: large\n    width: 100\n    fit: covr\n");
  const auto r = run_command({IMGFLOW_BINARY, "process", make_jpeg("x.jpg", 10, 10), "--config",
                              config, "--out", dir_ / "o"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("imgflow.yaml:4:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("covr"), std::string::npos) << r.err;
}

// A recipe cannot aim outputs outside --out: its key_template is refused at load, and nothing
// is written anywhere.
TEST_F(CliProcess, ARecipeThatWouldWriteOutsideOutIsRefusedBeforeAnyWrite) {
  const fs::path config = dir_ / "imgflow.yaml";
  const fs::path out = dir_ / "deep" / "o";
  write(config,
        "variants:\n  - name: large\n    width: 100\noutput:\n  key_template: "
        "\"../../escaped/{dir}/{file}/{variant}.{ext}\"\n");
  const auto r = run_command(
      {IMGFLOW_BINARY, "process", make_jpeg("x.jpg", 10, 10), "--config", config, "--out", out});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'..'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "escaped"));
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(CliProcess, UsageErrorsAreExitTwoAndHelpExplains) {
  EXPECT_EQ(run_command({IMGFLOW_BINARY, "process"}).exit_code, 2);
  EXPECT_EQ(run_command({IMGFLOW_BINARY, "frobnicate"}).exit_code, 2);
  const auto help = run_command({IMGFLOW_BINARY, "process", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--jobs"), std::string::npos);
  EXPECT_NE(help.out.find("Exit status"), std::string::npos);
}

TEST_F(CliProcess, VersionNamesLibvips) {
  const auto r = run_command({IMGFLOW_BINARY, "version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("libvips 8."), std::string::npos) << r.out;
}

TEST_F(CliProcess, OutputsAreIdenticalOnARerun) {
  const fs::path a = make_jpeg("same.jpg", 900, 600);
  ASSERT_EQ(run_command({IMGFLOW_BINARY, "process", a, "--out", dir_ / "o1", "-q"}).exit_code, 0);
  ASSERT_EQ(run_command({IMGFLOW_BINARY, "process", a, "--out", dir_ / "o2", "-q"}).exit_code, 0);
  EXPECT_EQ(read(dir_ / "o1" / "same.jpg" / "manifest.json"),
            read(dir_ / "o2" / "same.jpg" / "manifest.json"));
}

TEST_F(CliProcess, AMissingPathFailsAloneAndASummaryClosesTheRun) {
  const fs::path good = make_jpeg("good.jpg", 400, 300);
  const auto r =
      run_command({IMGFLOW_BINARY, "process", dir_ / "missing.jpg", good, "--out", dir_ / "out"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(fs::exists(dir_ / "out" / "good.jpg" / "manifest.json"));
  EXPECT_NE(r.err.find("missing.jpg: not found"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("imgflow: 1 processed, 1 failed in "), std::string::npos) << r.err;
}

TEST_F(CliProcess, DirectoriesKeepTheirStructureAndRecurseOnlyWhenAsked) {
  fs::create_directories(dir_ / "album" / "2024");
  make_jpeg("album/a.jpg", 300, 200);
  make_jpeg("album/2024/b.JPG", 300, 200);
  write(dir_ / "album" / "notes.txt", "not an image\n");
  write(dir_ / "album" / ".hidden.jpg", "not an image either\n");

  const auto flat = run_command({IMGFLOW_BINARY, "process", dir_ / "album", "--out", dir_ / "o1"});
  EXPECT_EQ(flat.exit_code, 0) << flat.err;
  EXPECT_TRUE(fs::exists(dir_ / "o1" / "a.jpg" / "manifest.json"));
  EXPECT_FALSE(fs::exists(dir_ / "o1" / "2024"));

  const auto deep =
      run_command({IMGFLOW_BINARY, "process", dir_ / "album", "-r", "--out", dir_ / "o2"});
  EXPECT_EQ(deep.exit_code, 0) << deep.err;
  EXPECT_TRUE(fs::exists(dir_ / "o2" / "a.jpg" / "manifest.json"));
  auto nested = function::parse_manifest(read(dir_ / "o2" / "2024" / "b.JPG" / "manifest.json"));
  ASSERT_TRUE(nested) << deep.err;
  EXPECT_EQ(nested->source.key, "2024/b.JPG");
  EXPECT_NE(deep.err.find("2 processed, 0 failed"), std::string::npos) << deep.err;
}

TEST_F(CliProcess, NamesThatDifferInExtensionBothProcessAndTheSameNameTwiceIsRefused) {
  fs::create_directories(dir_ / "x");
  const fs::path jpg = make_jpeg("photo.jpg", 300, 200);
  const fs::path png = dir_ / "photo.png";
  vips::VImage::new_from_file(jpg.c_str()).pngsave(png.c_str());
  const fs::path again = make_jpeg("x/photo.jpg", 300, 200);

  const auto r =
      run_command({IMGFLOW_BINARY, "process", jpg, png, again, "--out", dir_ / "out", "-q"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(fs::exists(dir_ / "out" / "photo.jpg" / "manifest.json"));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "photo.png" / "manifest.json"));
  EXPECT_NE(r.err.find("x/photo.jpg: invalid argument: has the same name below --out"),
            std::string::npos)
      << r.err;
}

TEST_F(CliProcess, BadJobsAndAnOutThatIsAFileAreUsageErrors) {
  const fs::path image = make_jpeg("i.jpg", 100, 100);
  const auto jobs = run_command({IMGFLOW_BINARY, "process", image, "--jobs", "-1"});
  EXPECT_EQ(jobs.exit_code, 2);
  EXPECT_NE(jobs.err.find("1 to 256"), std::string::npos) << jobs.err;
  EXPECT_LT(jobs.err.size(), 200U) << jobs.err;

  const auto out = run_command({IMGFLOW_BINARY, "process", image, "--out", image});
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_NE(out.err.find("is a file; give a directory"), std::string::npos) << out.err;
}

// The first thing many users try: a phone photo at a web size, rotated by its EXIF tag.
TEST_F(CliProcess, ARotatedPhonePhotoAtAWebSizeComesOutUpright) {
  const fs::path stored = make_jpeg("stored.jpg", 1000, 1600);
  vips::VImage image = vips::VImage::new_from_file(stored.c_str()).copy_memory();
  image.set("orientation", 6);
  const fs::path rotated = dir_ / "rotated.jpg";
  image.jpegsave(rotated.c_str(), vips::VImage::option()->set("strip", false));

  const auto r = run_command({IMGFLOW_BINARY, "process", rotated, "--out", dir_ / "out"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto manifest = function::parse_manifest(read(dir_ / "out" / "rotated.jpg" / "manifest.json"));
  ASSERT_TRUE(manifest);
  EXPECT_EQ(manifest->variants.at(0).width, 1600);
  EXPECT_EQ(manifest->variants.at(0).height, 1000);
}

}  // namespace
}  // namespace imgflow
