#include "generated_tree.h"

#include <utility>

namespace fusefs {

namespace {

// Splits a relative path into its components, or says what is wrong with it.
std::optional<std::string> split_path(std::string_view path, std::vector<std::string_view>& parts) {
    auto quoted = [&] { return "path \"" + std::string(path) + "\""; };
    if (path.empty()) return quoted() + " is empty";
    if (path.front() == '/') return quoted() + " must be relative (no leading '/')";
    if (path.back() == '/') return quoted() + " must not end in '/'";
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        std::string_view part = path.substr(start, end - start);
        if (part.empty()) return quoted() + " has an empty component ('//')";
        if (part == "." || part == "..") return quoted() + " has a '" + std::string(part) + "' component";
        if (part.find('\0') != std::string_view::npos) return quoted() + " contains a NUL byte";
        parts.push_back(part);
        start = end + 1;
    }
    return std::nullopt;
}

}  // namespace

GeneratedTree::GeneratedTree() {
    nodes_.push_back(Node{Kind::directory, "", 0, {}, {}, {}, {}});
}

std::optional<std::size_t> GeneratedTree::child(std::size_t dir, std::string_view name) const {
    const Node& d = nodes_.at(dir);
    auto it = d.by_name.find(name);
    if (it == d.by_name.end()) return std::nullopt;
    return it->second;
}

std::optional<std::size_t> GeneratedTree::find(std::string_view path) const {
    if (path.empty()) return 0;
    std::vector<std::string_view> parts;
    if (split_path(path, parts)) return std::nullopt;
    std::size_t at = 0;
    for (std::string_view part : parts) {
        if (nodes_[at].kind != Kind::directory) return std::nullopt;
        auto next = child(at, part);
        if (!next) return std::nullopt;
        at = *next;
    }
    return at;
}

std::optional<std::string> GeneratedTree::add_file(std::string_view path, Generator generate) {
    if (!generate) return "file \"" + std::string(path) + "\" has no generator";
    return add_leaf(path, Node{Kind::file, {}, 0, std::move(generate), {}, {}, {}});
}

std::optional<std::string> GeneratedTree::add_symlink(std::string_view path, std::string target) {
    if (target.empty()) return "symlink \"" + std::string(path) + "\" has an empty target";
    return add_leaf(path, Node{Kind::symlink, {}, 0, {}, std::move(target), {}, {}});
}

std::optional<std::string> GeneratedTree::add_leaf(std::string_view path, Node leaf) {
    std::vector<std::string_view> parts;
    if (auto error = split_path(path, parts)) return error;

    // Check the whole path before changing anything, so a refused path leaves no directories.
    std::size_t at = 0;
    std::size_t depth = 0;
    for (; depth < parts.size(); ++depth) {
        auto next = child(at, parts[depth]);
        if (!next) break;
        const bool last = depth + 1 == parts.size();
        if (last) {
            const char* what = nodes_[*next].kind == Kind::directory ? "a directory" : "a file or symlink";
            return "path \"" + std::string(path) + "\" is already taken by " + what;
        }
        if (nodes_[*next].kind != Kind::directory) {
            std::string prefix(path.substr(0, parts[depth].data() + parts[depth].size() - path.data()));
            return "path \"" + std::string(path) + "\" needs \"" + prefix +
                   "\" to be a directory, but it is a file or symlink";
        }
        at = *next;
    }

    auto attach = [&](Node node, std::string_view name) {
        node.name = std::string(name);
        node.parent = at;
        const std::size_t index = nodes_.size();
        nodes_.push_back(std::move(node));
        nodes_[at].children.push_back(index);
        nodes_[at].by_name.emplace(std::string(name), index);
        at = index;
    };
    for (; depth + 1 < parts.size(); ++depth)
        attach(Node{Kind::directory, {}, 0, {}, {}, {}, {}}, parts[depth]);
    attach(std::move(leaf), parts.back());
    return std::nullopt;
}

}  // namespace fusefs
