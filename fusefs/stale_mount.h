// A FUSE daemon that dies without unmounting leaves a dead mount behind: every access gives
// ENOTCONN, and a new mount on the same path would silently stack on top of it
// (spec/fuse.md §2.8). These helpers find such mounts and detach them before we mount.
#pragma once

#include <optional>
#include <string>

namespace fusefs {

// `path` made absolute and resolved, without touching `path` itself (it may be a dead mount,
// whose stat() fails): the parent directory goes through realpath(), the last name is kept.
std::optional<std::string> resolve_mountpoint(const std::string& path, std::string& error);

// How many entries of /proc/self/mountinfo are mounted at `abs_path` with filesystem type
// `fstype` (e.g. "fuse.kmod-sim"); an empty `fstype` counts every type.
int count_mounts(const std::string& abs_path, const std::string& fstype);

// Detaches, lazily, every mount of type fuse.<subtype> at `abs_path`, and anything there whose
// stat() fails with ENOTCONN, until neither is left. Returns the reason if it cannot.
std::optional<std::string> detach_stale_mounts(const std::string& abs_path, const std::string& subtype);

}  // namespace fusefs
