// FUSE_USE_VERSION 314: the API of libfuse 3.14, the version Debian 12 ships (fuse.md §2).
#define FUSE_USE_VERSION 314
#include "view.h"

#include <fuse_lowlevel.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "stale_mount.h"

namespace fusefs {

namespace {

// One open file: the content as it was generated at the last read at offset 0. Readers copy
// the shared_ptr under the lock and reply outside it, so the bytes they send are immutable.
struct OpenFile {
    std::size_t node;
    std::mutex lock;
    std::shared_ptr<const std::string> snapshot;
};

}  // namespace

struct FuseView::Session {
    GeneratedTree tree;
    ViewOptions options;
    std::string mountpoint;
    uid_t uid = 0;
    gid_t gid = 0;
    fuse_session* se = nullptr;
    int wake_fd = -1;
    std::thread loop;
    std::atomic<bool> running{false};
    std::mutex se_lock;   // stop() may run while the loop thread ends the session by itself
    // Touched by the loop thread only. Owning the handles here frees them even when the session
    // ends while clients still hold files open (no RELEASE ever comes for those).
    std::unordered_map<std::uint64_t, std::unique_ptr<OpenFile>> open_files;
    std::uint64_t next_fh = 1;

    void run();
};

namespace {

using Session = FuseView::Session;
using Kind = GeneratedTree::Kind;

Session& session_of(fuse_req_t req) { return *static_cast<Session*>(fuse_req_userdata(req)); }

// Inode numbers are node indices + 1: the root is node 0, FUSE_ROOT_ID is 1.
fuse_ino_t ino_of(std::size_t node) { return node + 1; }

const GeneratedTree::Node* node_of(const Session& s, fuse_ino_t ino) {
    if (ino < 1 || ino > s.tree.nodes().size()) return nullptr;
    return &s.tree.nodes()[ino - 1];
}

struct stat attributes(const Session& s, std::size_t index) {
    const GeneratedTree::Node& node = s.tree.nodes()[index];
    struct stat st {};
    st.st_ino = ino_of(index);
    st.st_uid = s.uid;
    st.st_gid = s.gid;
    st.st_size = 0;   // unknown until generated; direct_io reads to EOF regardless, as on /proc
    st.st_blksize = 4096;
    switch (node.kind) {
    case Kind::directory: {
        st.st_mode = S_IFDIR | 0555;
        auto subdirs = std::count_if(node.children.begin(), node.children.end(), [&](std::size_t c) {
            return s.tree.nodes()[c].kind == Kind::directory;
        });
        st.st_nlink = 2 + static_cast<nlink_t>(subdirs);
        break;
    }
    case Kind::file: st.st_mode = S_IFREG | 0444; st.st_nlink = 1; break;
    case Kind::symlink: st.st_mode = S_IFLNK | 0777; st.st_nlink = 1; break;
    }
    timespec now {};
    clock_gettime(CLOCK_REALTIME, &now);
    st.st_atim = st.st_mtim = st.st_ctim = now;
    return st;
}

fuse_entry_param entry_of(const Session& s, std::size_t index) {
    fuse_entry_param e {};
    e.ino = ino_of(index);
    e.generation = 1;
    e.attr = attributes(s, index);
    e.attr_timeout = s.options.timeout;
    e.entry_timeout = s.options.timeout;
    return e;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Session& s = session_of(req);
    const GeneratedTree::Node* dir = node_of(s, parent);
    if (!dir) return void(fuse_reply_err(req, ENOENT));
    if (dir->kind != Kind::directory) return void(fuse_reply_err(req, ENOTDIR));
    auto child = s.tree.child(parent - 1, name);
    if (!child) return void(fuse_reply_err(req, ENOENT));
    fuse_entry_param e = entry_of(s, *child);
    fuse_reply_entry(req, &e);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    Session& s = session_of(req);
    if (!node_of(s, ino)) return void(fuse_reply_err(req, ENOENT));
    struct stat st = attributes(s, ino - 1);
    fuse_reply_attr(req, &st, s.options.timeout);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
    const GeneratedTree::Node* node = node_of(session_of(req), ino);
    if (!node) return void(fuse_reply_err(req, ENOENT));
    if (node->kind != Kind::symlink) return void(fuse_reply_err(req, EINVAL));
    fuse_reply_readlink(req, node->target.c_str());
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    const GeneratedTree::Node* node = node_of(session_of(req), ino);
    if (!node) return void(fuse_reply_err(req, ENOENT));
    if (node->kind != Kind::directory) return void(fuse_reply_err(req, ENOTDIR));
    fuse_reply_open(req, fi);
}

// Directory offsets: 0 is ".", 1 is "..", 2 + i is the i-th child; an entry's `off` names the
// one after it.
void list_directory(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
    Session& s = session_of(req);
    const GeneratedTree::Node* dir = node_of(s, ino);
    if (!dir) return void(fuse_reply_err(req, ENOENT));
    if (dir->kind != Kind::directory) return void(fuse_reply_err(req, ENOTDIR));
    std::vector<char> buf(size);
    std::size_t used = 0;
    const std::size_t count = 2 + dir->children.size();
    for (std::size_t i = off < 0 ? 0 : static_cast<std::size_t>(off); i < count; ++i) {
        const std::size_t index = i == 0 ? ino - 1 : i == 1 ? dir->parent : dir->children[i - 2];
        const char* name = i == 0 ? "." : i == 1 ? ".." : s.tree.nodes()[index].name.c_str();
        const auto next = static_cast<off_t>(i + 1);
        std::size_t need;
        if (plus) {
            fuse_entry_param e = entry_of(s, index);
            need = fuse_add_direntry_plus(req, buf.data() + used, size - used, name, &e, next);
        } else {
            struct stat st = attributes(s, index);
            need = fuse_add_direntry(req, buf.data() + used, size - used, name, &st, next);
        }
        if (need > size - used) break;
        used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    try {
        list_directory(req, ino, size, off, false);
    } catch (...) {
        fuse_reply_err(req, ENOMEM);
    }
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
    try {
        list_directory(req, ino, size, off, true);
    } catch (...) {
        fuse_reply_err(req, ENOMEM);
    }
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Session& s = session_of(req);
    const GeneratedTree::Node* node = node_of(s, ino);
    if (!node) return void(fuse_reply_err(req, ENOENT));
    if (node->kind == Kind::directory) return void(fuse_reply_err(req, EISDIR));
    if (node->kind != Kind::file) return void(fuse_reply_err(req, EINVAL));
    // As /proc does for its 0444 files (and libfuse's hello example): asking to write is a
    // permission problem, whatever the mount flags say.
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) return void(fuse_reply_err(req, EACCES));

    const std::uint64_t fh = s.next_fh++;
    auto file = std::make_unique<OpenFile>();
    file->node = ino - 1;
    s.open_files.emplace(fh, std::move(file));
    fi->fh = fh;
    fi->direct_io = 1;   // every read() reaches us: content is never stale, size 0 is fine
    fi->keep_cache = 0;
    fi->noflush = 1;     // nothing to flush; spares a round trip on every close
    if (fuse_reply_open(req, fi) == -ENOENT) s.open_files.erase(fh);   // interrupted: no RELEASE
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
    Session& s = session_of(req);
    auto it = s.open_files.find(fi->fh);
    if (it == s.open_files.end()) return void(fuse_reply_err(req, EBADF));
    OpenFile& file = *it->second;
    std::shared_ptr<const std::string> snapshot;
    {
        std::lock_guard guard(file.lock);
        if (off == 0 || !file.snapshot) {
            file.snapshot.reset();
            try {
                file.snapshot = std::make_shared<const std::string>(s.tree.nodes()[file.node].generate());
            } catch (...) {
                return void(fuse_reply_err(req, EIO));
            }
        }
        snapshot = file.snapshot;
    }
    if (off < 0) return void(fuse_reply_err(req, EINVAL));
    const auto start = static_cast<std::size_t>(off);
    if (start >= snapshot->size()) return void(fuse_reply_buf(req, nullptr, 0));
    fuse_reply_buf(req, snapshot->data() + start, std::min(size, snapshot->size() - start));
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    session_of(req).open_files.erase(fi->fh);
    fuse_reply_err(req, 0);
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
    Session& s = session_of(req);
    struct statvfs st {};
    st.f_bsize = 4096;
    st.f_frsize = 4096;
    st.f_files = s.tree.nodes().size();
    st.f_namemax = 255;
    st.f_flag = ST_RDONLY;
    fuse_reply_statfs(req, &st);
}

// Every change is refused. With the "ro" mount option the kernel answers these itself; the
// handlers are the defence for a mount without it.
void op_setattr(fuse_req_t req, fuse_ino_t, struct stat*, int, fuse_file_info*) { fuse_reply_err(req, EROFS); }
void op_mknod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) { fuse_reply_err(req, EROFS); }
void op_mkdir(fuse_req_t req, fuse_ino_t, const char*, mode_t) { fuse_reply_err(req, EROFS); }
void op_unlink(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void op_rmdir(fuse_req_t req, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void op_symlink(fuse_req_t req, const char*, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void op_rename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*, unsigned) {
    fuse_reply_err(req, EROFS);
}
void op_link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) { fuse_reply_err(req, EROFS); }
void op_write(fuse_req_t req, fuse_ino_t, const char*, size_t, off_t, fuse_file_info*) { fuse_reply_err(req, EROFS); }
void op_create(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) { fuse_reply_err(req, EROFS); }

// The tree never changes, so the kernel may keep symlink targets: opening a file through a
// symlink then costs no READLINK round trip.
void op_init(void*, fuse_conn_info* conn) {
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
}

// No flush (the kernel stops sending FLUSH after ENOSYS) and no poll (the kernel then answers
// "always readable" itself, like /proc): fuse.md §0. No forget: inodes never go away.
fuse_lowlevel_ops make_operations() {
    fuse_lowlevel_ops ops {};
    ops.init = op_init;
    ops.lookup = op_lookup;
    ops.getattr = op_getattr;
    ops.readlink = op_readlink;
    ops.opendir = op_opendir;
    ops.readdir = op_readdir;
    ops.readdirplus = op_readdirplus;
    ops.releasedir = op_releasedir;
    ops.open = op_open;
    ops.read = op_read;
    ops.release = op_release;
    ops.statfs = op_statfs;
    ops.setattr = op_setattr;
    ops.mknod = op_mknod;
    ops.mkdir = op_mkdir;
    ops.unlink = op_unlink;
    ops.rmdir = op_rmdir;
    ops.symlink = op_symlink;
    ops.rename = op_rename;
    ops.link = op_link;
    ops.write = op_write;
    ops.create = op_create;
    return ops;
}

const fuse_lowlevel_ops operations = make_operations();

bool valid_name(const std::string& name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_' || c == '.';
    });
}

}  // namespace

// The loop: wait for a request or the wake-up, serve one request at a time. Generation is
// cheap, so one thread is enough and keeps the handlers free of locking (fuse.md §2.4).
void FuseView::Session::run() {
    fuse_buf buf {};
    const int device = fuse_session_fd(se);
    while (!fuse_session_exited(se)) {
        pollfd fds[2] = {{device, POLLIN, 0}, {wake_fd, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents) break;
        if (!fds[0].revents) continue;
        const int received = fuse_session_receive_buf(se, &buf);
        if (received == -EINTR || received == -EAGAIN || received == -ENOENT) continue;
        if (received <= 0) break;   // 0 or -ENODEV: the mount went away
        fuse_session_process_buf(se, &buf);
    }
    std::free(buf.mem);
    // Closing the device aborts the connection (clients still holding files get ENOTCONN), and
    // the unmount is lazy, so neither waits for them.
    std::lock_guard guard(se_lock);
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    se = nullptr;
    open_files.clear();
    running = false;
}

FuseView::FuseView() = default;

FuseView::~FuseView() { stop(); }

std::optional<std::string> FuseView::start(const std::string& mountpoint, GeneratedTree tree,
                                           ViewOptions options) {
    if (session_) return "this view was already started (at " + session_->mountpoint + ")";
    if (!valid_name(options.name))
        return "view name \"" + options.name + "\" must be non-empty and use only [A-Za-z0-9._-]";

    std::string error;
    auto resolved = resolve_mountpoint(mountpoint, error);
    if (!resolved) return error;
    if (auto stale = detach_stale_mounts(*resolved, options.name)) return stale;
    struct stat st {};
    if (stat(resolved->c_str(), &st) != 0)
        return "mountpoint " + *resolved + ": " + std::strerror(errno);
    if (!S_ISDIR(st.st_mode)) return "mountpoint " + *resolved + " is not a directory";

    auto s = std::make_unique<Session>();
    s->tree = std::move(tree);
    s->options = options;
    s->mountpoint = *resolved;
    s->uid = geteuid();
    s->gid = getegid();

    std::string opts = "default_permissions,fsname=" + options.name + ",subtype=" + options.name;
    if (options.kernel_read_only) opts = "ro," + opts;
    if (geteuid() == 0) opts += ",allow_other";
    std::string arg0 = options.name;
    std::string dash_o = "-o";
    char* argv[] = {arg0.data(), dash_o.data(), opts.data(), nullptr};
    fuse_args args = FUSE_ARGS_INIT(3, argv);
    s->se = fuse_session_new(&args, &operations, sizeof operations, s.get());
    fuse_opt_free_args(&args);
    if (!s->se) return "fuse_session_new refused the options \"" + opts + "\" (libfuse's reason is on stderr)";

    if (fuse_session_mount(s->se, s->mountpoint.c_str()) != 0) {
        fuse_session_destroy(s->se);
        return "cannot mount a FUSE filesystem at " + s->mountpoint +
               " (is /dev/fuse present and mounting permitted? libfuse's reason is on stderr)";
    }
    // Non-blocking device: a request that vanishes between poll() and read() (its caller was
    // killed) must not leave us stuck in read(), deaf to the wake-up.
    const int device = fuse_session_fd(s->se);
    fcntl(device, F_SETFL, fcntl(device, F_GETFL) | O_NONBLOCK);

    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake_fd < 0) {
        const std::string reason = std::strerror(errno);
        fuse_session_unmount(s->se);
        fuse_session_destroy(s->se);
        return "eventfd: " + reason;
    }
    s->running = true;
    try {
        s->loop = std::thread([raw = s.get()] { raw->run(); });
    } catch (const std::exception& e) {
        close(s->wake_fd);
        fuse_session_unmount(s->se);
        fuse_session_destroy(s->se);
        return std::string("cannot start the loop thread: ") + e.what();
    }
    session_ = std::move(s);
    return std::nullopt;
}

void FuseView::stop() {
    if (!session_ || !session_->loop.joinable()) return;
    {
        // Exiting the session only sets a flag (libfuse < 3.18 wakes nobody): the eventfd makes
        // the loop look at it.
        std::lock_guard guard(session_->se_lock);
        if (session_->se) fuse_session_exit(session_->se);
        const std::uint64_t one = 1;
        [[maybe_unused]] auto written = write(session_->wake_fd, &one, sizeof one);
    }
    session_->loop.join();
    close(session_->wake_fd);
    session_->wake_fd = -1;
}

bool FuseView::running() const { return session_ && session_->running; }

const std::string& FuseView::mountpoint() const {
    static const std::string none;
    return session_ ? session_->mountpoint : none;
}

}  // namespace fusefs
