// The result of parsing KLIPS text: a value, or KLIPS's error message.
//
// libfreeswan's converters returned NULL or a string literal; we keep the literal (so the
// message text is exactly KLIPS's) but carry the value beside it, and never throw.
#pragma once

#include <string_view>
#include <utility>
#include <variant>

namespace kmod_sim {

// An error message with static storage duration (always a string literal).
struct TextError {
    std::string_view message;
};

template <typename T>
class [[nodiscard]] Parsed {
public:
    Parsed(T value) : state_(std::move(value)) {}          // NOLINT: implicit by design
    Parsed(TextError error) : state_(error) {}              // NOLINT: implicit by design

    bool ok() const { return std::holds_alternative<T>(state_); }
    explicit operator bool() const { return ok(); }

    // Only valid when ok().
    const T& value() const { return std::get<T>(state_); }
    const T& operator*() const { return value(); }
    const T* operator->() const { return &value(); }
    T& value() { return std::get<T>(state_); }
    T& operator*() { return value(); }
    T* operator->() { return &value(); }

    // Only valid when !ok().
    std::string_view error() const { return std::get<TextError>(state_).message; }

private:
    std::variant<T, TextError> state_;
};

constexpr TextError text_error(std::string_view literal) { return TextError{literal}; }

}  // namespace kmod_sim
