#include "gateway/form_data_reader.h"

#include <gtest/gtest.h>

namespace imgflow::gateway {
namespace {

using TrickleSource = storage::StringSource;  // at most `step` bytes per read

const std::string kBody =
    "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nuploads/a.jpg\r\n"
    "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a;b.jpg\"\r\n"
    "Content-Type: image/jpeg\r\n\r\n\r\n--XyZ-not-yet\r\nbytes\r\n--XyZ--\r\nepilogue";

TEST(FormDataReaderTest, ReadsFieldsAndFileWhateverTheReadSizes) {
  for (const std::size_t step : {1, 2, 3, 7, 64, 4096}) {
    TrickleSource source(kBody, step);
    FormDataReader form(source, "XyZ");
    auto key = form.next();
    ASSERT_TRUE(key && *key) << step;
    EXPECT_EQ((*key)->name, "key");
    EXPECT_EQ(form.read_value(100).value_or("?"), "uploads/a.jpg");
    auto file = form.next();
    ASSERT_TRUE(file && *file);
    EXPECT_EQ((*file)->filename, "a;b.jpg");
    EXPECT_EQ((*file)->content_type, "image/jpeg");
    EXPECT_EQ(form.read_value(1000).value_or("?"), "\r\n--XyZ-not-yet\r\nbytes") << step;
    auto end = form.next();
    ASSERT_TRUE(end);
    EXPECT_FALSE(*end);
  }
}

TEST(FormDataReaderTest, EnforcesCapsAndFraming) {
  TrickleSource source(kBody, 4096);
  FormDataReader form(source, "XyZ");
  ASSERT_TRUE(form.next());
  EXPECT_EQ(form.read_value(5).error().code, core::ErrorCode::kTooLarge);

  TrickleSource truncated("--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc",
                          4096);
  FormDataReader cut(truncated, "XyZ");
  ASSERT_TRUE(cut.next());
  EXPECT_FALSE(cut.read_value(100));

  const std::string endless_header = "--XyZ\r\n" + std::string(20000, 'h');
  TrickleSource endless(endless_header, 4096);
  FormDataReader headers(endless, "XyZ");
  EXPECT_FALSE(headers.next());
}

TEST(FormDataReaderTest, FindsTheBoundary) {
  EXPECT_EQ(form_boundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(form_boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\""), "a b");
  EXPECT_FALSE(form_boundary("application/x-www-form-urlencoded"));
  EXPECT_FALSE(form_boundary("multipart/form-data; boundary=" + std::string(71, 'x')));
}

}  // namespace
}  // namespace imgflow::gateway
