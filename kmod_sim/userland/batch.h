// `ipsec batch [--force] [FILE]`: many commands over one PF_KEY connection, in the manner of
// `ip -batch` and `setkey -f`. Each line is an ipsec command without the leading "ipsec"
// (it may be there); blank lines and lines starting with '#' are skipped; words split on
// white space, with '…' and "…" quoting.
//
// Lines are read, parsed and sent in turn, pipelined: up to kBatchWindow requests ahead of
// their answers, many per system call, as `ip -batch` runs its lines one after the other but
// without waiting for each answer. A line that does not parse stops the batch with its line
// number: the lines before it took effect, nothing after it is sent. At the first failing
// answer the batch stops sending; the lines already in flight behind it (at most
// kBatchWindow) still take effect, and their answers are reported too. With --force every
// line is tried and the failures are counted. A line that prints (a bare `eroute`, `look`)
// waits for every answer before it, so it shows their effect.
#pragma once

#include "command.h"

namespace kmod_sim::userland {

constexpr size_t kBatchWindow = 256;

Plan batch_command(const Invocation& invocation);

}  // namespace kmod_sim::userland
