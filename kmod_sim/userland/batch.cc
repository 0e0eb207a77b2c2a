#include "batch.h"

#include <getopt.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>

#include "run_plan.h"

namespace kmod_sim::userland {

namespace {

constexpr const char* kUsage =
    "usage: ipsec batch [--force] [FILE]\n"
    "Runs the ipsec commands in FILE (or standard input, also as '-'), one per line, over one\n"
    "PF_KEY connection, pipelined. It stops at the first line that fails, with its line number;\n"
    "--force goes on and counts the failures.\n";

// Splits a line into words: white space separates, '…' and "…" quote, '#' at the start of a
// word begins a comment. False for an unterminated quote.
bool split_words(const std::string& line, std::vector<std::string>* words) {
    std::string word;
    bool in_word = false;
    char quote = 0;
    for (char c : line) {
        if (quote) {
            if (c == quote) quote = 0;
            else word += c;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
            if (in_word) words->push_back(std::move(word));
            word.clear();
            in_word = false;
        } else if (c == '#' && !in_word) {
            break;
        } else if (c == '\'' || c == '"') {
            quote = c;
            in_word = true;
        } else {
            word += c;
            in_word = true;
        }
    }
    if (quote) return false;
    if (in_word) words->push_back(std::move(word));
    return true;
}

struct InFlight {
    uint32_t seq;
    size_t line;
    std::function<int(const pfkey::Message&)> on_answer;
    std::vector<uint8_t> bytes;  // until sent; then wiped (it may carry keys) and freed
};

class Batch {
public:
    Batch(const Invocation& invocation, bool force, PfkeyConnection& connection)
        : invocation_(invocation), force_(force), connection_(connection) {}

    // Reads, parses and sends the lines of `in` in turn; the exit status.
    int run(std::istream& in, const std::string& source) {
        std::string text;
        size_t number = 0;
        bool bad_line = false;
        while (!stopped_ && std::getline(in, text)) {
            ++number;
            if (!run_line(text, number, source)) {
                bad_line = true;
                break;
            }
        }
        if (!flush() || !drain(0)) return 1;
        if (bad_line) {
            std::fprintf(stderr, "ipsec batch: %s:%zu: stopped here; the lines before it were sent\n",
                         source.c_str(), number);
            return 1;
        }
        if (failures_ == 0) return 0;
        if (force_) std::fprintf(stderr, "ipsec batch: %zu of %zu lines failed\n", failures_, lines_);
        return 1;
    }

private:
    // Parses one line and queues its requests, or runs its local action once everything before
    // it is answered. False (reported) when the line does not parse or the socket fails.
    bool run_line(const std::string& text, size_t number, const std::string& source) {
        std::vector<std::string> words;
        if (!split_words(text, &words)) {
            std::fprintf(stderr, "ipsec batch: %s:%zu: unterminated quote\n", source.c_str(), number);
            return false;
        }
        if (!words.empty() && words[0] == "ipsec") words.erase(words.begin());
        if (words.empty()) return true;
        const CommandInfo* command = find_command(words[0]);
        if (!command || words[0] == "batch") {
            std::fprintf(stderr, "ipsec batch: %s:%zu: %s '%s'\n", source.c_str(), number,
                         command ? "a batch cannot run" : "unknown command", words[0].c_str());
            return false;
        }
        Invocation line;
        line.name = std::move(words[0]);
        line.args.assign(std::make_move_iterator(words.begin() + 1), std::make_move_iterator(words.end()));
        line.instance = invocation_.instance;
        line.in_batch = true;
        Plan plan = command->run(line);
        if (plan.exit_status) return *plan.exit_status == 0;  // --help, --version; or an error, printed
        ++lines_;
        for (Request& request : plan.requests) {
            // Full window: read answers until half of it is free, so that each wake-up of
            // either side carries many messages.
            if (in_flight_.size() >= kBatchWindow && (!flush() || !drain(kBatchWindow / 2))) return false;
            if (stopped_) return true;
            request.message.pid = pid_;
            request.message.seq = next_seq_++;
            auto bytes = pfkey::encode(request.message);
            if (!bytes) {
                std::fprintf(stderr, "ipsec batch: %s:%zu: cannot encode the request: %.*s\n", source.c_str(),
                             number, static_cast<int>(bytes.error().size()), bytes.error().data());
                return false;
            }
            in_flight_.push_back({request.message.seq, number, std::move(request.on_answer), std::move(*bytes)});
            ++unsent_;
        }
        if (plan.local) {
            if (!flush() || !drain(0)) return false;
            if (!stopped_) settle(number, plan.local(&connection_));
        }
        return true;
    }

    // Sends the queued requests (the last `unsent_` of in_flight_), many per system call.
    bool flush() {
        if (unsent_ == 0) return true;
        std::vector<std::span<const uint8_t>> datagrams;
        datagrams.reserve(unsent_);
        for (size_t i = in_flight_.size() - unsent_; i < in_flight_.size(); ++i) datagrams.emplace_back(in_flight_[i].bytes);
        const int error = connection_.send_all(datagrams);
        for (size_t i = in_flight_.size() - unsent_; i < in_flight_.size(); ++i) {
            std::memset(in_flight_[i].bytes.data(), 0, in_flight_[i].bytes.size());
            in_flight_[i].bytes = {};
        }
        unsent_ = 0;
        if (error) report_unreachable(invocation_, error);
        return error == 0;
    }

    // Reads answers until at most `keep` requests are in flight; false when the socket failed.
    bool drain(size_t keep) {
        std::vector<pfkey::Message> answers;
        while (in_flight_.size() > keep) {
            answers.clear();
            if (int error = connection_.receive_available(PfkeyConnection::kAnswerTimeoutMs, &answers)) {
                report_unreachable(invocation_, error);
                return false;
            }
            for (const pfkey::Message& answer : answers) {
                if (answer.pid != pid_) continue;  // another socket's echo
                if (in_flight_.empty() || answer.seq != in_flight_.front().seq) {
                    std::fprintf(stderr, "ipsec batch: an answer out of order (seq %u)\n", answer.seq);
                    return false;
                }
                InFlight done = std::move(in_flight_.front());
                in_flight_.pop_front();
                settle(done.line, done.on_answer(answer));
            }
        }
        return true;
    }

    void settle(size_t line, int status) {
        if (status == 0) return;
        if (last_failed_line_ != line) ++failures_;  // a line with several requests counts once
        last_failed_line_ = line;
        if (force_) {
            std::fprintf(stderr, "ipsec batch: line %zu failed\n", line);
        } else if (!stopped_) {
            std::fprintf(stderr, "ipsec batch: stopped at line %zu\n", line);
            stopped_ = true;
        } else {
            std::fprintf(stderr, "ipsec batch: line %zu, already sent, failed too\n", line);
        }
    }

    const Invocation& invocation_;
    bool force_;
    PfkeyConnection& connection_;
    uint32_t pid_ = static_cast<uint32_t>(getpid());
    uint32_t next_seq_ = 1;
    std::deque<InFlight> in_flight_;  // in order; the last unsent_ are queued, not sent yet
    size_t unsent_ = 0;
    size_t lines_ = 0;
    size_t failures_ = 0;
    size_t last_failed_line_ = 0;
    bool stopped_ = false;
};

}  // namespace

Plan batch_command(const Invocation& invocation) {
    static const option kLong[] = {
        {"force", no_argument, nullptr, 'f'},
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    auto argv = invocation.argv();
    bool force = false;
    optind = 0;
    for (int c; (c = getopt_long(static_cast<int>(argv.size()) - 1, argv.data(), "", kLong, nullptr)) != -1;) {
        if (c == 'f') {
            force = true;
        } else if (c == 'h') {
            std::fputs(kUsage, stdout);
            return Plan::exit(0);
        } else {
            std::fputs(kUsage, stderr);
            return Plan::exit(1);
        }
    }
    const int argc = static_cast<int>(argv.size()) - 1;
    if (argc - optind > 1) {
        std::fputs(kUsage, stderr);
        return Plan::exit(1);
    }
    std::string file = optind < argc ? argv[optind] : "-";
    Plan plan;
    plan.local_needs_connection = true;
    plan.local = [invocation, force, file](PfkeyConnection* connection) {
        Batch batch(invocation, force, *connection);
        if (file == "-") return batch.run(std::cin, "stdin");
        std::ifstream in(file);
        if (!in) {
            std::fprintf(stderr, "ipsec batch: cannot read %s: %s\n", file.c_str(), std::strerror(errno));
            return 1;
        }
        return batch.run(in, file);
    };
    return plan;
}

}  // namespace kmod_sim::userland
