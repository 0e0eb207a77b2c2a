// A read-only FUSE mount of a GeneratedTree (spec/fuse.md §0, DESIGN.md "The FUSE view").
// Low-level libfuse3 API, one loop thread polling /dev/fuse and an eventfd that stop() uses
// to wake it. Every open file gets its own snapshot, rebuilt by the generator on each read at
// offset 0, so a reader that pulls a file in chunks sees one consistent generation, and
// lseek(0) or pread(0) shows fresh content, as /proc's seq_file does.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "generated_tree.h"

namespace fusefs {

struct ViewOptions {
    std::string name = "fusefs";   // fsname= and subtype=: mountinfo shows "fuse.<name> <name>"
    double timeout = 60.0;         // kernel entry and attribute cache, seconds: names are static
    // Mount with "ro" (the kernel then refuses every write with EROFS before we see it).
    // Off only to exercise the daemon's own refusals in tests.
    bool kernel_read_only = true;
};

class FuseView {
public:
    FuseView();
    ~FuseView();                   // stop()
    FuseView(const FuseView&) = delete;
    FuseView& operator=(const FuseView&) = delete;

    // Detaches any stale mount of ours at `mountpoint` (an existing directory), mounts `tree`
    // there and starts the loop thread. Returns the reason on failure, nothing on success.
    // Once only per FuseView. Generators run on the loop thread, one at a time: they must not
    // touch the mount themselves, call stop(), or wait on a lock held by someone who does.
    [[nodiscard]] std::optional<std::string> start(const std::string& mountpoint, GeneratedTree tree,
                                                   ViewOptions options = {});

    // Ends the session, joins the loop thread, and leaves the mountpoint unmounted (lazily: a
    // client still holding a file open gets ENOTCONN). Idempotent; returns promptly even then.
    void stop();

    bool running() const;
    const std::string& mountpoint() const;   // absolute, as mounted

    struct Session;                // the loop thread's state; public only for the C callbacks

private:
    std::unique_ptr<Session> session_;
};

}  // namespace fusefs
