#include "topology/topology_json.h"

#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

// Reading: a small strict JSON reader (RFC 8259; a UTF-8 BOM at the start is skipped) instead of
// nlohmann's, because errors must carry a line and column and duplicate keys must be errors:
//   line 3, column 14: not valid JSON: expected ',' or '}' after an object member
//   line 5, column 9: duplicate key "kind" (first at line 5, column 2)
//   line 7, column 20: links[3].kind: unknown "nvlnk" (nvlink, pcie, inter_socket)
// Every value's position is kept by field path, so the checks after parsing name it too. Bytes
// that are not printable ASCII are escaped in messages (\x7f), never echoed raw. Nesting is
// limited to 64 levels; strings must be valid UTF-8. O(size) time and memory.

namespace gpusched::topology {
namespace {

using Json = nlohmann::json;

constexpr std::pair<DeviceKind, const char*> kDeviceKinds[] = {
    {DeviceKind::kGpu, "gpu"},           {DeviceKind::kNvSwitch, "nvswitch"},
    {DeviceKind::kPcieSwitch, "pcie_switch"}, {DeviceKind::kHostBridge, "host_bridge"},
    {DeviceKind::kCpuSocket, "cpu_socket"}, {DeviceKind::kNic, "nic"}};
constexpr std::pair<LinkKind, const char*> kLinkKinds[] = {
    {LinkKind::kNvLink, "nvlink"}, {LinkKind::kPcie, "pcie"}, {LinkKind::kInterSocket, "inter_socket"}};

constexpr int kMaxDepth = 64;

// Where each value starts, by field path ("links[3].kind"; "" for the root), as byte offsets.
class Positions {
 public:
  explicit Positions(std::string_view text) : text_(text) {}
  void Set(const std::string& path, size_t offset) { at_[path] = offset; }
  // "line L, column C" of a byte offset (1-based; columns count bytes).
  std::string Where(size_t offset) const {
    int line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < offset && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    return absl::StrCat("line ", line, ", column ", offset - line_start + 1);
  }
  // "line L, column C: " for a path (its nearest recorded ancestor), or "".
  std::string Prefix(std::string path) const {
    while (true) {
      if (auto it = at_.find(path); it != at_.end()) return Where(it->second) + ": ";
      if (path.empty()) break;
      const size_t cut = path.find_last_of(".[");
      path.resize(cut == std::string::npos ? 0 : cut);  // up to the root object
    }
    return "";
  }
  std::optional<size_t> Get(const std::string& path) const {
    auto it = at_.find(path);
    if (it == at_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::string_view text_;
  std::map<std::string, size_t> at_;
};

class Reader {
 public:
  Reader(std::string_view text, Positions& positions) : s_(text), positions_(positions) {}

  absl::StatusOr<Json> Document() {
    Json out;
    SkipSpace();
    if (absl::Status st = Value(out, "", 0); !st.ok()) return st;
    SkipSpace();
    if (pos_ < s_.size()) return Fail("unexpected bytes after the document: ", Sample());
    return out;
  }

 private:
  absl::Status Fail(std::string_view what, const std::string& detail = "") const {
    return absl::InvalidArgumentError(absl::StrCat(positions_.Where(pos_), ": not valid JSON: ",
                                                   std::string(what), detail));
  }
  std::string Sample() const { return absl::StrCat("\"", Printable(s_.substr(pos_), 12), "\""); }

  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  absl::Status Value(Json& out, const std::string& path, int depth) {
    if (pos_ >= s_.size()) return Fail("unexpected end of input, expected a value");
    positions_.Set(path, pos_);
    if (depth > kMaxDepth) return Fail(absl::StrCat("nested deeper than ", kMaxDepth, " levels"));
    const char c = s_[pos_];
    if (c == '{') return Object(out, path, depth);
    if (c == '[') return Array(out, path, depth);
    if (c == '"') {
      std::string str;
      if (absl::Status st = String(str); !st.ok()) return st;
      out = std::move(str);
      return absl::OkStatus();
    }
    if (c == '-' || (c >= '0' && c <= '9')) return Number(out);
    for (const auto& [word, value] :
         {std::pair<std::string_view, Json>{"true", true}, {"false", false}, {"null", nullptr}}) {
      if (s_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        out = value;
        return absl::OkStatus();
      }
    }
    return Fail("expected a value, got ", Sample());
  }

  absl::Status Object(Json& out, const std::string& path, int depth) {
    out = Json::object();
    ++pos_;  // {
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return absl::OkStatus();
    }
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"') {
        return pos_ >= s_.size() ? Fail("unexpected end of input in an object")
                                 : Fail("expected a key string, got ", Sample());
      }
      const size_t key_pos = pos_;
      std::string key;
      if (absl::Status st = String(key); !st.ok()) return st;
      const std::string child = path.empty() ? key : absl::StrCat(path, ".", key);
      if (out.contains(key)) {
        const std::optional<size_t> first = positions_.Get(child);
        pos_ = key_pos;
        return absl::InvalidArgumentError(absl::StrCat(
            positions_.Where(key_pos), ": duplicate key \"", Printable(key), "\"",
            first.has_value() ? absl::StrCat(" (first at ", positions_.Where(*first), ")") : ""));
      }
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Fail("expected ':' after a key");
      ++pos_;
      SkipSpace();
      Json value;
      if (absl::Status st = Value(value, child, depth + 1); !st.ok()) return st;
      out[key] = std::move(value);
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return absl::OkStatus();
      }
      return pos_ >= s_.size() ? Fail("unexpected end of input in an object")
                               : Fail("expected ',' or '}' after an object member, got ", Sample());
    }
  }

  absl::Status Array(Json& out, const std::string& path, int depth) {
    out = Json::array();
    ++pos_;  // [
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return absl::OkStatus();
    }
    while (true) {
      SkipSpace();
      Json value;
      if (absl::Status st = Value(value, absl::StrCat(path, "[", out.size(), "]"), depth + 1);
          !st.ok()) {
        return st;
      }
      out.push_back(std::move(value));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return absl::OkStatus();
      }
      return pos_ >= s_.size() ? Fail("unexpected end of input in a list")
                               : Fail("expected ',' or ']' after a list element, got ", Sample());
    }
  }

  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool Hex4(uint32_t& cp) {
    if (pos_ + 4 > s_.size()) return false;
    cp = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[pos_ + k];
      cp <<= 4;
      if (h >= '0' && h <= '9') {
        cp |= h - '0';
      } else if (h >= 'a' && h <= 'f') {
        cp |= h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        cp |= h - 'A' + 10;
      } else {
        return false;
      }
    }
    pos_ += 4;
    return true;
  }

  // Length of the well-formed UTF-8 sequence at pos_ (lead byte >= 0x80), or 0.
  size_t Utf8Length() const {
    const unsigned char b0 = static_cast<unsigned char>(s_[pos_]);
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      return 0;
    }
    if (pos_ + len > s_.size()) return 0;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char b = static_cast<unsigned char>(s_[pos_ + k]);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
    }
    return len;
  }

  absl::Status String(std::string& out) {
    ++pos_;  // "
    while (true) {
      if (pos_ >= s_.size()) return Fail("unexpected end of input in a string");
      const unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c < 0x20) return Fail("control byte in a string: ", Sample());
      if (c >= 0x80) {
        const size_t len = Utf8Length();
        if (len == 0) return Fail("invalid UTF-8 in a string: ", Sample());
        out.append(s_.substr(pos_, len));
        pos_ += len;
        continue;
      }
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) return Fail("unexpected end of input in a string");
      const char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(cp)) return Fail("bad \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (s_.substr(pos_, 2) != "\\u") return Fail("lone UTF-16 surrogate in \\u escape");
            pos_ += 2;
            if (!Hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) {
              return Fail("lone UTF-16 surrogate in \\u escape");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Fail("lone UTF-16 surrogate in \\u escape");
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          --pos_;
          return Fail("bad escape in a string: ", Sample());
      }
    }
  }

  absl::Status Number(Json& out) {
    const size_t start = pos_;
    const auto digits = [&] {
      const size_t from = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    if (s_[pos_] == '-') ++pos_;
    const size_t int_start = pos_;
    const size_t int_digits = digits();
    if (int_digits == 0) return Fail("bad number: ", Sample());
    if (int_digits > 1 && s_[int_start] == '0') {
      pos_ = start;
      return Fail("bad number (leading zero): ", Sample());
    }
    bool integer = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      integer = false;
      if (digits() == 0) return Fail("bad number: digits expected after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      integer = false;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) return Fail("bad number: digits expected in the exponent");
    }
    const char* b = s_.data() + start;
    const char* e = s_.data() + pos_;
    if (integer) {
      int64_t v = 0;
      const auto [p, ec] = std::from_chars(b, e, v);
      if (ec == std::errc() && p == e) {
        out = v;
        return absl::OkStatus();
      }
    }
    double d = 0;
    const auto [p, ec] = std::from_chars(b, e, d);
    if (ec != std::errc() || p != e || !std::isfinite(d)) {
      pos_ = start;
      return Fail("number out of range: ", Sample());
    }
    out = d;
    return absl::OkStatus();
  }

  std::string_view s_;
  Positions& positions_;
  size_t pos_ = 0;
};

// Field errors, each prefixed with the line and column of the field (or its nearest parent).
class Errors {
 public:
  explicit Errors(const Positions& p) : p_(p) {}
  absl::Status Bad(const std::string& path, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(p_.Prefix(path), path, ": ", what));
  }
  // Reads an optional integer field into `out`, or fails naming the path.
  absl::Status Int(const Json& obj, const char* key, const std::string& path, int32_t& out,
                   int64_t lo, int64_t hi) const {
    auto it = obj.find(key);
    if (it == obj.end()) return absl::OkStatus();
    const std::string field = absl::StrCat(path, ".", key);
    if (!it->is_number_integer()) return Bad(field, "expected an integer");
    const int64_t v = it->get<int64_t>();
    if (v < lo || v > hi) return Bad(field, absl::StrCat("must be in ", lo, "..", hi));
    out = static_cast<int32_t>(v);
    return absl::OkStatus();
  }

 private:
  const Positions& p_;
};

}  // namespace

absl::StatusOr<GpuTopology> ParseTopologyJson(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  Positions positions(text);
  absl::StatusOr<Json> parsed = Reader(text, positions).Document();
  if (!parsed.ok()) return parsed.status();
  const Json& root = *parsed;
  const Errors errors(positions);
  const auto Bad = [&](const std::string& path, const std::string& what) {
    return errors.Bad(path, what);
  };
  const auto Int = [&](const Json& obj, const char* key, const std::string& path, int32_t& out,
                       int64_t lo, int64_t hi) { return errors.Int(obj, key, path, out, lo, hi); };
  if (!root.is_object()) return absl::InvalidArgumentError("line 1, column 1: topology: expected an object");
  std::string name = "agent";
  if (auto it = root.find("name"); it != root.end()) {
    if (!it->is_string()) return Bad("name", "expected a string");
    name = it->get<std::string>();
  }
  auto devs = root.find("devices");
  auto lnks = root.find("links");
  if (devs == root.end() || !devs->is_array()) return Bad("devices", "required: a list");
  if (lnks == root.end() || !lnks->is_array()) return Bad("links", "required: a list");
  if (devs->size() > static_cast<size_t>(kMaxDevices)) {
    return Bad("devices", absl::StrCat(devs->size(), " devices, more than the limit of ", kMaxDevices));
  }
  if (lnks->size() > static_cast<size_t>(kMaxLinks)) {
    return Bad("links", absl::StrCat(lnks->size(), " links, more than the limit of ", kMaxLinks));
  }
  std::vector<Device> devices;
  for (size_t i = 0; i < devs->size(); ++i) {
    const Json& d = (*devs)[i];
    const std::string path = absl::StrCat("devices[", i, "]");
    if (!d.is_object()) return Bad(path, "expected an object");
    Device dev;
    auto kind = d.find("kind");
    if (kind == d.end() || !kind->is_string()) return Bad(path + ".kind", "required: a string");
    bool found = false;
    for (const auto& [k, n] : kDeviceKinds) {
      if (kind->get<std::string>() == n) {
        dev.kind = k;
        found = true;
      }
    }
    if (!found) {
      return Bad(path + ".kind",
                 absl::StrCat("unknown \"", Printable(kind->get<std::string>()),
                              "\" (gpu, nvswitch, pcie_switch, host_bridge, cpu_socket, nic)"));
    }
    if (auto n = d.find("name"); n != d.end()) {
      if (!n->is_string()) return Bad(path + ".name", "expected a string");
      dev.name = n->get<std::string>();
    }
    if (absl::Status s = Int(d, "numa", path, dev.numa, -1, kMaxNuma - 1); !s.ok()) return s;
    devices.push_back(std::move(dev));
  }
  std::vector<Link> links;
  for (size_t i = 0; i < lnks->size(); ++i) {
    const Json& l = (*lnks)[i];
    const std::string path = absl::StrCat("links[", i, "]");
    if (!l.is_object()) return Bad(path, "expected an object");
    Link link;
    const int32_t max_index = static_cast<int32_t>(devices.size()) - 1;
    if (!l.contains("a") || !l.contains("b")) return Bad(path, "required: a and b");
    if (absl::Status s = Int(l, "a", path, link.a, 0, std::max(0, max_index)); !s.ok()) return s;
    if (absl::Status s = Int(l, "b", path, link.b, 0, std::max(0, max_index)); !s.ok()) return s;
    auto kind = l.find("kind");
    if (kind == l.end() || !kind->is_string()) return Bad(path + ".kind", "required: a string");
    bool found = false;
    for (const auto& [k, n] : kLinkKinds) {
      if (kind->get<std::string>() == n) {
        link.kind = k;
        found = true;
      }
    }
    if (!found) {
      return Bad(path + ".kind", absl::StrCat("unknown \"", Printable(kind->get<std::string>()),
                                              "\" (nvlink, pcie, inter_socket)"));
    }
    if (absl::Status s = Int(l, "count", path, link.count, 1, 1024); !s.ok()) return s;
    if (absl::Status s = Int(l, "generation", path, link.generation, 0, 6); !s.ok()) return s;
    if (absl::Status s = Int(l, "width", path, link.width, 1, 32); !s.ok()) return s;
    if (auto g = l.find("gbps"); g != l.end()) {
      if (!g->is_number() || !std::isfinite(g->get<double>()) || g->get<double>() <= 0) {
        return Bad(path + ".gbps", "expected a positive number");
      }
      link.gbps = g->get<double>();
    }
    links.push_back(link);
  }
  absl::StatusOr<GpuTopology> t =
      GpuTopology::Create(std::move(name), std::move(devices), std::move(links));
  if (!t.ok()) {
    // Create names "links[i]" or "devices[i]": add where that is in the text.
    const std::string msg(t.status().message());
    const size_t bracket = msg.find(']');
    if ((msg.starts_with("links[") || msg.starts_with("devices[")) && bracket != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(positions.Prefix(msg.substr(0, bracket + 1)), msg));
    }
  }
  return t;
}

std::string TopologyToJson(const GpuTopology& t) {
  Json root;
  root["name"] = t.name();
  Json devices = Json::array();
  for (const Device& d : t.devices()) {
    const char* kind = "gpu";
    for (const auto& [k, n] : kDeviceKinds) {
      if (k == d.kind) kind = n;
    }
    devices.push_back({{"kind", kind}, {"name", d.name}, {"numa", d.numa}});
  }
  Json links = Json::array();
  for (const Link& l : t.links()) {
    const char* kind = "pcie";
    for (const auto& [k, n] : kLinkKinds) {
      if (k == l.kind) kind = n;
    }
    links.push_back({{"a", l.a},
                     {"b", l.b},
                     {"kind", kind},
                     {"count", l.count},
                     {"generation", l.generation},
                     {"width", l.width},
                     {"gbps", l.gbps}});
  }
  root["devices"] = std::move(devices);
  root["links"] = std::move(links);
  return root.dump(1, '\t', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

}  // namespace gpusched::topology
