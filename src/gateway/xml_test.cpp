#include "gateway/xml.h"

#include <gtest/gtest.h>

namespace imgflow::gateway {
namespace {

TEST(XmlTest, EscapesMarkupAndControlCharacters) {
  EXPECT_EQ(xml_escape("a&b<c>\"d'"), "a&amp;b&lt;c&gt;&quot;d&apos;");
  EXPECT_EQ(xml_escape(std::string("x\x01y", 3)), "x&#x1;y");
}

TEST(XmlTest, ParsesCompleteMultipartUpload) {
  auto parts = parse_complete_multipart(
      "<?xml version=\"1.0\"?><CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/"
      "2006-03-01/\"><Part><ETag>&quot;abc&quot;</ETag><PartNumber>1</PartNumber></Part>"
      "<Part><PartNumber>2</PartNumber><ETag>def</ETag></Part></CompleteMultipartUpload>");
  ASSERT_TRUE(parts) << parts.error().message;
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].part_number, 1);
  EXPECT_EQ((*parts)[0].etag, "\"abc\"");
  EXPECT_EQ((*parts)[1].etag, "def");
}

TEST(XmlTest, ParsesDeleteObjects) {
  auto request = parse_delete_objects(
      "<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object>"
      "<Object><Key>&#x263A;</Key></Object></Delete>");
  ASSERT_TRUE(request);
  EXPECT_TRUE(request->quiet);
  EXPECT_EQ(request->keys, (std::vector<std::string>{"a&b", "\xE2\x98\xBA"}));
}

TEST(XmlTest, RefusesWhatItDoesNotNeed) {
  EXPECT_FALSE(parse_delete_objects(
      "<!DOCTYPE x [<!ENTITY e \"boom\">]><Delete><Object><Key>&e;</Key></Object></Delete>"));
  EXPECT_FALSE(parse_delete_objects("<Delete><Object><Key>k</Key></Delete>"));
  EXPECT_FALSE(parse_delete_objects("<Delete><Object><Key>&bogus;</Key></Object></Delete>"));
  EXPECT_FALSE(parse_delete_objects("<Delete></Delete>"));
  EXPECT_FALSE(parse_delete_objects("<Delete><Object><Key>k</Key></Object></Delete><Delete/>"));
  EXPECT_FALSE(
      parse_complete_multipart("<CompleteMultipartUpload><Part><PartNumber>x"
                               "</PartNumber><ETag>e</ETag></Part>"
                               "</CompleteMultipartUpload>"));
  EXPECT_FALSE(parse_complete_multipart(std::string(kMaxXmlBodyBytes + 1, ' ')));
  std::string deep;
  for (int i = 0; i < 20; ++i) deep += "<a>";
  EXPECT_FALSE(parse_delete_objects(deep));
}

TEST(XmlTest, WriterProducesEscapedElements) {
  XmlWriter xml;
  xml.open("R", true);
  xml.element("Key", "a<b");
  xml.close("R");
  EXPECT_EQ(xml.take(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R "
            "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Key>a&lt;b</Key></R>");
}

}  // namespace
}  // namespace imgflow::gateway
