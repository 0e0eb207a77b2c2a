// The files of the /proc view, in one table: path → renderer, or path → symlink target.
// The daemon hands this table to the generic FUSE view as it is (DESIGN.md "At run time").
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "klips.h"

namespace kmod_sim {

struct ProcEntry {
    std::string path;                             // relative to the view's root: "net/ipsec/tncfg"
    std::function<std::string()> render;          // for a file: its content now
    std::string link_target;                      // for a symlink: its target, exactly as KLIPS
    bool is_symlink() const { return !render; }
};

// Every file and legacy symlink of the view, rendered from `klips`, which must outlive the
// returned renderers.
std::vector<ProcEntry> proc_entries(const Klips& klips);

}  // namespace kmod_sim
