#pragma once

// A pre-check of a YAML (or JSON) configuration document before it is loaded with yaml-cpp, so
// that hostile input is a clear error instead of unbounded work or a silently different reading:
//
//   RETURN_IF_ERROR(CheckYamlDocument(text, "profiles.yaml"));
//   const YAML::Node root = YAML::Load(std::string(StripUtf8Bom(text)));
//
// Refused, each as InvalidArgument "<source>:<line>:<col>: <what>":
//   - anchors (&a) and aliases (*a): yaml-cpp shares the aliased node, so a "billion laughs"
//     document of under 1 KB expands without bound when the tree is walked; configuration files
//     never need them;
//   - nesting deeper than `max_depth` collections;
//   - more than `max_nodes` nodes (scalars, nulls, sequences and maps together);
//   - a second document ("---" after a first one): only one is read, so it is never ignored;
//   - a key that appears twice in one map (YAML and JSON alike), naming the key and the line of
//     its first appearance and its field path ("profiles[0].plugins[1].args.k: duplicate key
//     \"k\" (first on line 7)"); a key that is itself a sequence or map.
// A UTF-8 byte order mark at the start is accepted. The check is one pass over yaml-cpp's event
// stream: O(input) time and memory (plus the keys of the maps that are open). Header-only, no
// state; safe from any thread. No exception leaves these functions.

#include <cstdint>
#include <exception>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/printable.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace gpusched::runtime {

struct YamlLimits {
  int max_depth = 64;            // nested sequences/maps
  int64_t max_nodes = 1'000'000;  // every scalar, null, sequence and map
};

// `text` without a leading UTF-8 byte order mark.
inline std::string_view StripUtf8Bom(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return text;
}

using ::gpusched::QuoteForMessage;

// A message from a library (yaml-cpp, nlohmann) that may quote input bytes: non-printable bytes
// escaped as above, without the quotes, cut at 200 bytes.
inline std::string SanitizeForMessage(std::string_view v) { return EscapeForMessage(v, 200); }

namespace yaml_guard_internal {

struct Stop {
  absl::Status status;
};

class Checker : public YAML::EventHandler {
 public:
  Checker(std::string_view source, const YamlLimits& limits) : source_(source), limits_(limits) {}

  int documents() const { return documents_; }

  [[noreturn]] void Fail(const YAML::Mark& m, std::string_view what) const {
    throw Stop{absl::InvalidArgumentError(absl::StrCat(Where(m), ": ", std::string(what)))};
  }
  std::string Where(const YAML::Mark& m) const {
    if (m.line < 0) return std::string(source_);
    return absl::StrCat(std::string(source_), ":", m.line + 1, ":", m.column + 1);
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1) {
      Fail(mark, "a second YAML document (after \"---\"); the file must hold exactly one");
    }
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Node(mark, anchor, /*scalar=*/true, "");
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    Fail(mark, "YAML aliases (*name) are not supported here (they can expand without bound)");
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    Node(mark, anchor, /*scalar=*/true, value);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Push(mark, /*map=*/false, Node(mark, anchor, /*scalar=*/false, ""));
  }
  void OnSequenceEnd() override { frames_.pop_back(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Push(mark, /*map=*/true, Node(mark, anchor, /*scalar=*/false, ""));
  }
  void OnMapEnd() override { frames_.pop_back(); }
  void OnAnchor(const YAML::Mark& mark, const std::string& name) override {
    Fail(mark, absl::StrCat("YAML anchor &", SanitizeForMessage(name),
                            ": anchors and aliases are not supported here (they can expand "
                            "without bound)"));
  }

  // A problem found in a document that yaml-cpp otherwise parsed (OK if none).
  const absl::Status& deferred() const { return deferred_; }

 private:
  struct Frame {
    bool map = false;
    bool at_key = true;   // maps: the next node is a key
    int64_t index = 0;    // sequences: the next element's index
    std::string path;     // "profiles[0].plugins"
    std::string key;      // maps: the current key
    std::unordered_map<std::string, int> key_lines;  // key -> 1-based line
  };

  // The field path of a map key, "profiles[0].plugins[1].args.k": keys that are printable ASCII
  // as they are, others quoted and escaped.
  static std::string Join(const std::string& parent, const std::string& key) {
    bool plain = !key.empty() && key.size() <= 80;
    for (char c : key) {
      const unsigned char u = static_cast<unsigned char>(c);
      if (u < 0x20 || u >= 0x7f || c == '.' || c == '[' || c == '"') plain = false;
    }
    const std::string shown = plain ? key : QuoteForMessage(key);
    return parent.empty() ? shown : absl::StrCat(parent, ".", shown);
  }

  // A node starts: count it, check its key (in a map) and return its field path.
  std::string Node(const YAML::Mark& mark, YAML::anchor_t anchor, bool scalar,
                   const std::string& value) {
    if (anchor != YAML::NullAnchor) {
      Fail(mark, "YAML anchors (&name) are not supported here (they can expand without bound)");
    }
    if (++nodes_ > limits_.max_nodes) {
      Fail(mark, absl::StrCat("more than ", limits_.max_nodes, " YAML nodes, the limit"));
    }
    if (frames_.empty()) return "";
    Frame& f = frames_.back();
    if (!f.map) return absl::StrCat(f.path, "[", f.index++, "]");
    if (!f.at_key) {
      f.at_key = true;
      return Join(f.path, f.key);
    }
    f.at_key = false;
    if (!scalar) {
      // Reported only if the document is otherwise well-formed: an unclosed "[ {a: b" reads as
      // a map used as a key before yaml-cpp finds the real problem, which is the better message.
      if (deferred_.ok()) {
        deferred_ = absl::InvalidArgumentError(
            absl::StrCat(Where(mark), ": a sequence or map used as a key is not supported"));
      }
      f.key.clear();
      return "";
    }
    f.key = value;
    auto [it, inserted] = f.key_lines.emplace(value, mark.line + 1);
    if (!inserted) {
      Fail(mark, absl::StrCat(Join(f.path, value), ": duplicate key ", QuoteForMessage(value),
                              " (first on line ", it->second, ")"));
    }
    return "";
  }

  void Push(const YAML::Mark& mark, bool map, std::string path) {
    if (static_cast<int>(frames_.size()) >= limits_.max_depth) {
      Fail(mark, absl::StrCat("nested deeper than ", limits_.max_depth, " levels, the limit"));
    }
    Frame f;
    f.map = map;
    f.path = std::move(path);
    frames_.push_back(std::move(f));
  }

  absl::Status deferred_;
  std::string_view source_;
  YamlLimits limits_;
  int documents_ = 0;
  int64_t nodes_ = 0;
  std::vector<Frame> frames_;
};

}  // namespace yaml_guard_internal

// OK when `text` is one YAML/JSON document within `limits` and free of anchors, aliases and
// duplicate keys; otherwise InvalidArgument naming `source`, the line and column. Syntax errors
// are reported too ("<source>:<line>:<col>: not valid YAML/JSON: <what>").
inline absl::Status CheckYamlDocument(std::string_view text, std::string_view source,
                                      const YamlLimits& limits = {}) {
  yaml_guard_internal::Checker checker(source, limits);
  try {
    std::istringstream in{std::string(StripUtf8Bom(text))};
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(checker)) {
    }
    if (!checker.deferred().ok()) return checker.deferred();
  } catch (const yaml_guard_internal::Stop& stop) {
    return stop.status;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        checker.Where(e.mark), ": not valid YAML/JSON: ", SanitizeForMessage(e.msg)));
  } catch (const std::exception& e) {  // allocation failures
    return absl::ResourceExhaustedError(
        absl::StrCat(std::string(source), ": cannot parse: ", SanitizeForMessage(e.what())));
  }
  return absl::OkStatus();
}

}  // namespace gpusched::runtime
