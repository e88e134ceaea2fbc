#include "cli/explain.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::cli {
namespace {

using ::testing::HasSubstr;

TEST(Explain, APodThatIsNotNamespaceSlashNameIsAUsageError) {
  std::ostringstream out, err;
  EXPECT_EQ(RunExplain({"legacy-a100"}, out, err), kExitUsage);
  EXPECT_THAT(err.str(), HasSubstr("\"legacy-a100\" is not NAMESPACE/POD"));
  EXPECT_EQ(RunExplain({}, out, err), kExitUsage);
}

TEST(Explain, AnExtenderThatIsNotThereIsNamed) {
  std::ostringstream out, err;
  EXPECT_EQ(RunExplain({"ml/p", "--extender", "http://127.0.0.1:1"}, out, err), kExitFailed);
  EXPECT_THAT(err.str(), HasSubstr("cannot reach the extender at http://127.0.0.1:1"));
  EXPECT_EQ(out.str(), "");
}

TEST(Explain, TheAnswerReadsAsReasonsPerNodeAndCheckedChanges) {
  const auto answer = nlohmann::json::parse(R"({
    "pod": "ml/p", "boundTo": "", "fitsNow": false,
    "gang": "gang ml/g needs 2 members like this one placed at once: 0 fit now, at most 2 on an empty cluster",
    "nodes": [
      {"node": "a", "fits": false, "unresolvable": false, "reason": "Insufficient free GPUs: needs 4, 2 free here"},
      {"node": "b", "fits": false, "unresolvable": true, "reason": "node(s) had no GPU of model H100"},
      {"node": "c", "fits": false, "unresolvable": false, "reason": "Insufficient free GPUs: needs 4, 2 free here"}],
    "changes": [
      {"kind": "fewer-gpus", "change": "ask for 2 GPUs instead of 4", "fitsOn": ["a", "c"]},
      {"kind": "wait", "change": "wait: fits on a once ml/x leaves", "fitsOn": ["a"]}]})");
  std::ostringstream out;
  PrintExplanation(answer, out);
  EXPECT_EQ(out.str(),
            "ml/p fits on none of the 3 nodes now:\n"
            "  not now:    Insufficient free GPUs: needs 4, 2 free here  (a, c)\n"
            "  never here: node(s) had no GPU of model H100  (b)\n"
            "  gang ml/g needs 2 members like this one placed at once: 0 fit now, at most 2 on an "
            "empty cluster\n"
            "What would place it:\n"
            "  - ask for 2 GPUs instead of 4  (then on a, c)\n"
            "  - wait: fits on a once ml/x leaves\n");
  std::ostringstream bound;
  PrintExplanation(nlohmann::json{{"pod", "ml/q"}, {"boundTo", "a"}}, bound);
  EXPECT_EQ(bound.str(), "ml/q is bound to a.\n");
}

}  // namespace
}  // namespace gpusched::cli
