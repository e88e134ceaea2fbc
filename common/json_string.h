#pragma once

// Appends `s` as a JSON string literal: quotes, backslashes and control characters escaped
// (\n \r \t short forms, \u00XX otherwise); UTF-8 passed through. For small hand-written JSON
// (log lines, error bodies) where a JSON library would be overkill. Thread-safe.

#include <string>
#include <string_view>

namespace gpusched {

void AppendJsonString(std::string& out, std::string_view s);

}  // namespace gpusched
