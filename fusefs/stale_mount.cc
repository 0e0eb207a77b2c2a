#include "stale_mount.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace fusefs {

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_octal(const std::string& field) {
    std::string out;
    for (std::size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size()) {
            const std::string digits = field.substr(i + 1, 3);
            if (digits.size() == 3 && digits.find_first_not_of("01234567") == std::string::npos) {
                out.push_back(static_cast<char>(std::stoi(digits, nullptr, 8)));
                i += 3;
                continue;
            }
        }
        out.push_back(field[i]);
    }
    return out;
}

std::optional<std::string> detach(const std::string& path) {
    if (geteuid() == 0) {
        if (umount2(path.c_str(), MNT_DETACH) == 0) return std::nullopt;
        return "umount2(\"" + path + "\", MNT_DETACH) failed: " + std::strerror(errno);
    }
    const char* argv[] = {"fusermount3", "-u", "-z", path.c_str(), nullptr};
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, "fusermount3", nullptr, nullptr, const_cast<char* const*>(argv), environ);
    if (rc != 0) return std::string("cannot run fusermount3: ") + std::strerror(rc);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return std::string("waitpid(fusermount3) failed: ") + std::strerror(errno);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
    return "fusermount3 -u -z \"" + path + "\" failed";
}

}  // namespace

std::optional<std::string> resolve_mountpoint(const std::string& path, std::string& error) {
    if (path.empty()) {
        error = "mountpoint is empty";
        return std::nullopt;
    }
    std::string abs = path;
    if (abs.front() != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) {
            error = std::string("getcwd failed: ") + std::strerror(errno);
            return std::nullopt;
        }
        abs = std::string(cwd) + "/" + abs;
    }
    while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
    if (abs == "/") {
        error = "cannot mount on /";
        return std::nullopt;
    }
    const std::size_t slash = abs.rfind('/');
    const std::string parent = slash == 0 ? "/" : abs.substr(0, slash);
    const std::string name = abs.substr(slash + 1);
    if (name == "." || name == "..") {
        error = "mountpoint \"" + path + "\" must not end in . or ..";
        return std::nullopt;
    }
    char resolved[PATH_MAX];
    if (!realpath(parent.c_str(), resolved)) {
        error = "mountpoint's parent \"" + parent + "\": " + std::strerror(errno);
        return std::nullopt;
    }
    std::string result = resolved;
    if (result != "/") result += "/";
    return result + name;
}

int count_mounts(const std::string& abs_path, const std::string& fstype) {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    int count = 0;
    while (std::getline(in, line)) {
        // id parent major:minor root mountpoint options [optional fields...] - fstype source super
        std::istringstream fields(line);
        std::vector<std::string> f;
        for (std::string word; fields >> word;) f.push_back(word);
        if (f.size() < 7 || unescape_octal(f[4]) != abs_path) continue;
        std::size_t dash = 6;
        while (dash < f.size() && f[dash] != "-") ++dash;
        if (dash + 1 >= f.size()) continue;
        if (fstype.empty() || f[dash + 1] == fstype) ++count;
    }
    return count;
}

std::optional<std::string> detach_stale_mounts(const std::string& abs_path, const std::string& subtype) {
    const std::string fstype = "fuse." + subtype;
    // Mounts may be stacked; each round removes the top one. The bound only guards against a
    // detach that reports success yet changes nothing.
    for (int round = 0; round < 64; ++round) {
        struct stat st {};
        const bool dead = stat(abs_path.c_str(), &st) != 0 && errno == ENOTCONN;
        if (!dead && count_mounts(abs_path, fstype) == 0) return std::nullopt;
        if (auto error = detach(abs_path)) return "cannot detach stale mount at " + abs_path + ": " + *error;
    }
    return "mounts at " + abs_path + " remain after 64 detach attempts";
}

}  // namespace fusefs
