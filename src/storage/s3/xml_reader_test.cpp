#include "storage/s3/xml_reader.h"

#include <gtest/gtest.h>

#include "storage/s3/s3_error.h"

namespace imgflow::storage::s3 {
namespace {

using core::ErrorCode;

TEST(XmlReader, ParsesS3Shapes) {
  const auto doc = parse_xml(R"(<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<Root xmlns="http://s3.amazonaws.com/doc/2006-03-01/" a='1>2'>
  <Key>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233;&#x1F600;</Key>
  <Empty/>
  <Data><![CDATA[<raw> & ]]></Data>
  <Item><N>1</N></Item><Item><N>2</N></Item>
</Root>
)");
  ASSERT_TRUE(doc.has_value()) << doc.error().to_string();
  EXPECT_EQ(doc->name, "Root");
  EXPECT_EQ(doc->child_text("Key"), "a & b <c> \"d\" 'e' \xC3\xA9\xF0\x9F\x98\x80");
  ASSERT_NE(doc->child("Empty"), nullptr);
  EXPECT_EQ(doc->child_text("Empty"), "");
  EXPECT_EQ(doc->child_text("Data"), "<raw> & ");
  const auto items = doc->all("Item");
  ASSERT_EQ(items.size(), 2U);
  EXPECT_EQ(items[1]->child_text("N"), "2");
  EXPECT_EQ(doc->child("Missing"), nullptr);
}

TEST(XmlReader, RefusesMalformedAndHostileInput) {
  for (const char* bad : {"", "<a>", "<a></b>", "<a>&bogus;</a>", "<a>&#0;</a>", "<a>&#xD800;</a>",
                          "<a></a><b/>", "text", "<a><!-- open</a>", "<a b=\"1></a>",
                          "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "<?pi x?><a/>"}) {
    const auto r = parse_xml(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kCorrupt) << bad;
  }
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "<a>";
  EXPECT_EQ(parse_xml(deep).error().code, ErrorCode::kTooLarge);
  std::string wide = "<a>";
  for (int i = 0; i < 100; ++i) wide += "<b/>";
  wide += "</a>";
  EXPECT_EQ(parse_xml(wide, {.max_elements = 50}).error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(parse_xml(wide, {.max_bytes = 10}).error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(xml_escape("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
}

TEST(S3Error, ParsesAndMaps) {
  const auto body = parse_error_body(
      "<Error><Code>SlowDown</Code><Message>Reduce your rate</Message>"
      "<RequestId>R1</RequestId></Error>");
  EXPECT_EQ(body.code, "SlowDown");
  EXPECT_EQ(body.request_id, "R1");
  EXPECT_TRUE(is_retryable(503, body));
  EXPECT_EQ(to_error(503, body, Target::kObject).code, ErrorCode::kUnavailable);
  EXPECT_TRUE(parse_error_body("not xml").code.empty());
  EXPECT_FALSE(is_retryable(501, {"NotImplemented", "", ""}));
  EXPECT_EQ(to_error(501, {"NotImplemented", "", ""}, Target::kObject).code,
            ErrorCode::kUnsupported);
  EXPECT_EQ(to_error(400, {"RequestTimeout", "", ""}, Target::kObject).code, ErrorCode::kTimeout);
  EXPECT_TRUE(is_retryable(400, {"RequestTimeout", "", ""}));
  EXPECT_EQ(to_error(403, {}, Target::kObject).code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(to_error(400, {"Weird", "", ""}, Target::kObject).code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace imgflow::storage::s3
