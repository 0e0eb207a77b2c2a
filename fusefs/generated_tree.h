// The shape of a read-only view: regular files whose content a generator produces on demand,
// and symlinks with fixed targets. Directories are implied by the paths ("a/b/c" makes a and
// a/b). The tree is built once and never changes afterwards, which is what lets the view hand
// out stable inode numbers and long kernel cache timeouts.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fusefs {

// Produces the whole content of a file, now. May throw: the reader then gets EIO.
using Generator = std::function<std::string()>;

class GeneratedTree {
public:
    enum class Kind { directory, file, symlink };

    struct Node {
        Kind kind;
        std::string name;                      // "" for the root
        std::size_t parent;                    // the root is its own parent
        Generator generate;                    // files only
        std::string target;                    // symlinks only
        std::vector<std::size_t> children;     // directories only, in insertion order
        std::map<std::string, std::size_t, std::less<>> by_name;  // directories only
    };

    GeneratedTree();

    // Paths are relative ("net/dev/stats"): no leading or trailing '/', no empty, "." or
    // ".." component, not already taken, and a name is either a directory or a leaf, never both.
    // Each returns the reason when the path is refused, nothing when it was added.
    [[nodiscard]] std::optional<std::string> add_file(std::string_view path, Generator generate);
    [[nodiscard]] std::optional<std::string> add_symlink(std::string_view path, std::string target);

    // Node 0 is the root. Indices never change once given out.
    const std::vector<Node>& nodes() const { return nodes_; }
    const Node& node(std::size_t index) const { return nodes_.at(index); }
    std::optional<std::size_t> child(std::size_t dir, std::string_view name) const;
    // The index of the node at `path` ("" is the root), if any.
    std::optional<std::size_t> find(std::string_view path) const;

private:
    std::optional<std::string> add_leaf(std::string_view path, Node leaf);

    std::vector<Node> nodes_;
};

}  // namespace fusefs
