// The AWS protocol codecs of the simulators: Query/EC2 form input into JSON, JSON into the
// Query and EC2 XML answers, each protocol's error shape, and paging tokens.
#include <gtest/gtest.h>

#include "common/ids.h"
#include "sims/common/aws_protocol.h"

namespace sockerless::sims {
namespace {

using json = nlohmann::json;

TEST(SimsAwsProtocol, QueryInputNestsListsMembersAndMaps) {
  json in = query_input({{"Action", "CreateRole"},
                         {"Version", "2010-05-08"},
                         {"RoleName", "r"},
                         {"Tags.member.2.Key", "b"},
                         {"Tags.member.1.Key", "a"},
                         {"Tags.member.1.Value", "1"},
                         {"Tags.member.2.Value", "2"},
                         {"Attributes.entry.1.key", "k"},
                         {"Attributes.entry.1.value", "v"}});
  EXPECT_EQ(in, json::parse(R"({"RoleName":"r",
      "Tags":[{"Key":"a","Value":"1"},{"Key":"b","Value":"2"}],
      "Attributes":{"k":"v"}})"));
}

TEST(SimsAwsProtocol, Ec2InputListsWithoutMemberSegments) {
  json in = query_input({{"Filter.1.Name", "vpc-id"},
                         {"Filter.1.Value.1", "vpc-1"},
                         {"Filter.1.Value.2", "vpc-2"},
                         {"SubnetId.1", "subnet-a"},
                         {"SubnetId.10", "subnet-j"},
                         {"SubnetId.2", "subnet-b"}});
  EXPECT_EQ(in["Filter"], json::parse(R"([{"Name":"vpc-id","Value":["vpc-1","vpc-2"]}])"));
  // Indexes order the list numerically, not as text.
  EXPECT_EQ(in["SubnetId"], json::parse(R"(["subnet-a","subnet-b","subnet-j"])"));
}

TEST(SimsAwsProtocol, MapEntryWithoutKeyIsRefused) {
  EXPECT_THROW(query_input({{"Attributes.entry.1.value", "v"}}), AwsError);
}

TEST(SimsAwsProtocol, QueryAnswerWrapsResultAndMetadata) {
  auto r =
      query_answer("GetRole", json{{"Role", {{"RoleName", "a<b"}, {"Tags", {{{"Key", "k"}}}}}}},
                   "https://iam.amazonaws.com/doc/2010-05-08/", "req-1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetRoleResult>"
            "<Role><RoleName>a&lt;b</RoleName><Tags><member><Key>k</Key></member></Tags></Role>"
            "</GetRoleResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"
            "</GetRoleResponse>");
  // An operation without output (DeleteRole) has no Result element.
  auto empty = query_answer("DeleteRole", nullptr, "", "req-2");
  EXPECT_EQ(empty.body,
            "<DeleteRoleResponse><ResponseMetadata><RequestId>req-2</RequestId>"
            "</ResponseMetadata></DeleteRoleResponse>");
}

TEST(SimsAwsProtocol, Ec2AnswerUsesItemsAndRequestId) {
  auto r = ec2_answer("DescribeVpcs", json{{"vpcSet", {{{"vpcId", "vpc-1"}, {"isDefault", true}}}}},
                      "http://ec2.amazonaws.com/doc/2016-11-15/", "req-3");
  // (nlohmann's objects keep their keys sorted; the SDKs read elements in any order)
  EXPECT_NE(r.body.find("<requestId>req-3</requestId><vpcSet><item><isDefault>true</isDefault>"
                        "<vpcId>vpc-1</vpcId></item></vpcSet>"),
            std::string::npos)
      << r.body;
}

TEST(SimsAwsProtocol, ErrorShapesPerProtocol) {
  AwsError e(400, "ClusterNotFoundException", "Cluster not found.");
  auto j = error_answer(Protocol::kJson, e, "r");
  EXPECT_EQ(j.status, 400);
  EXPECT_EQ(json::parse(j.body),
            json::parse(R"({"__type":"ClusterNotFoundException","message":"Cluster not found."})"));
  EXPECT_EQ(j.headers.get("x-amzn-ErrorType").value_or(""), "ClusterNotFoundException");

  auto rest =
      error_answer(Protocol::kRestJson, AwsError(404, "ResourceNotFoundException", "gone"), "r");
  EXPECT_EQ(json::parse(rest.body)["Type"], "User");
  EXPECT_EQ(rest.headers.get("x-amzn-ErrorType").value_or(""), "ResourceNotFoundException");

  auto q =
      error_answer(Protocol::kQuery, AwsError(500, "ServiceFailure", "x&y", false), "r", "", "ns");
  EXPECT_EQ(q.body,
            "<ErrorResponse xmlns=\"ns\"><Error><Type>Receiver</Type><Code>ServiceFailure</Code>"
            "<Message>x&amp;y</Message></Error><RequestId>r</RequestId></ErrorResponse>");

  auto ec2 = error_answer(Protocol::kEc2, AwsError(400, "InvalidVpcID.NotFound", "no"), "r");
  EXPECT_NE(ec2.body.find("<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code>"),
            std::string::npos);
  EXPECT_NE(ec2.body.find("<RequestID>r</RequestID>"), std::string::npos);
}

TEST(SimsAwsProtocol, PagesAndTokens) {
  auto first = page_of(5, "", 2, 100);
  EXPECT_EQ(first.begin, 0u);
  EXPECT_EQ(first.count, 2u);
  auto second = page_of(5, first.next_token, 2, 100);
  EXPECT_EQ(second.begin, 2u);
  auto last = page_of(5, second.next_token, 2, 100);
  EXPECT_EQ(last.begin, 4u);
  EXPECT_EQ(last.count, 1u);
  EXPECT_EQ(last.next_token, "");
  EXPECT_EQ(page_of(3, "", 0, 100).count, 3u);  // no maxResults: the service's default
  for (const char* bad : {"garbage", "o", "o9", "o1x", "x1"})
    EXPECT_THROW(page_of(5, bad, 2, 100), AwsError) << bad;
}

TEST(SimsAwsProtocol, RequiredFieldsAndTimestamps) {
  json in = {{"a", "x"}, {"n", 3}};
  EXPECT_EQ(required_string(in, "a"), "x");
  EXPECT_THROW(required_string(in, "missing"), AwsError);
  EXPECT_THROW(required_string(in, "n"), AwsError);
  EXPECT_EQ(optional_string(in, "missing", "d"), "d");
  EXPECT_EQ(iso8601(1440938160.5), "2015-08-30T12:36:00.500Z");
  EXPECT_EQ(random_uuid().size(), 36u);
}

}  // namespace
}  // namespace sockerless::sims
