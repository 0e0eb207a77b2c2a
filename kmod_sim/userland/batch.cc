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
    "PF_KEY connection. Every line is checked first; then they are sent pipelined. The batch\n"
    "stops at the first failure, with its line number; --force goes on and counts failures.\n";

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

// One parsed line: its requests already encoded, or a local action.
struct Step {
    size_t line = 0;
    std::vector<std::pair<std::vector<uint8_t>, std::function<int(const pfkey::Message&)>>> requests;
    std::function<int(PfkeyConnection*)> local;
};

struct InFlight {
    uint32_t seq;
    size_t line;
    std::function<int(const pfkey::Message&)> on_answer;
};

class Batch {
public:
    Batch(const Invocation& invocation, bool force) : invocation_(invocation), force_(force) {}

    // Parses every line of `in`; false (reported) at the first that does not parse.
    bool parse(std::istream& in, const std::string& source) {
        std::string text;
        size_t number = 0;
        while (std::getline(in, text)) {
            ++number;
            std::vector<std::string> words;
            if (!split_words(text, &words)) {
                std::fprintf(stderr, "ipsec batch: %s:%zu: unterminated quote\n", source.c_str(), number);
                return false;
            }
            if (!words.empty() && words[0] == "ipsec") words.erase(words.begin());
            if (words.empty()) continue;
            const CommandInfo* command = find_command(words[0]);
            if (!command || words[0] == "batch") {
                std::fprintf(stderr, "ipsec batch: %s:%zu: %s '%s'\n", source.c_str(), number,
                             command ? "a batch cannot run" : "unknown command", words[0].c_str());
                return false;
            }
            Invocation line;
            line.name = words[0];
            line.args.assign(words.begin() + 1, words.end());
            line.instance = invocation_.instance;
            line.in_batch = true;
            Plan plan = command->run(line);
            if (plan.exit_status && *plan.exit_status != 0) {
                std::fprintf(stderr, "ipsec batch: %s:%zu: stopped here, nothing was sent\n", source.c_str(), number);
                return false;
            }
            if (plan.exit_status) continue;  // --help, --version: printed already
            Step step;
            step.line = number;
            for (Request& request : plan.requests) {
                request.message.pid = pid_;
                request.message.seq = next_seq_++;
                auto bytes = pfkey::encode(request.message);
                if (!bytes) {
                    std::fprintf(stderr, "ipsec batch: %s:%zu: cannot encode the request: %.*s\n", source.c_str(),
                                 number, static_cast<int>(bytes.error().size()), bytes.error().data());
                    return false;
                }
                step.requests.emplace_back(std::move(*bytes), std::move(request.on_answer));
            }
            step.local = std::move(plan.local);
            steps_.push_back(std::move(step));
        }
        return true;
    }

    int run(PfkeyConnection& connection) {
        for (Step& step : steps_) {
            if (stopped_) break;
            for (auto& [bytes, on_answer] : step.requests) {
                // Full window: read answers until half of it is free, so that each wake-up of
                // either side carries many messages.
                if (in_flight_.size() >= kBatchWindow &&
                    (!flush(connection) || !drain(connection, kBatchWindow / 2))) {
                    return 1;
                }
                if (stopped_) break;
                uint32_t seq;
                std::memcpy(&seq, bytes.data() + 8, sizeof seq);
                outgoing_.push_back(&bytes);
                in_flight_.push_back({seq, step.line, std::move(on_answer)});
            }
            if (step.local && !stopped_) {
                if (!flush(connection) || !drain(connection, 0)) return 1;
                if (!stopped_) settle(step.line, step.local(&connection));
            }
        }
        if (!flush(connection) || !drain(connection, 0)) return 1;
        if (failures_ == 0) return 0;
        if (force_) std::fprintf(stderr, "ipsec batch: %zu of %zu lines failed\n", failures_, steps_.size());
        return 1;
    }

private:
    // Sends what is queued, many per system call, then wipes it (it may carry keys).
    bool flush(PfkeyConnection& connection) {
        if (outgoing_.empty()) return true;
        std::vector<std::span<const uint8_t>> datagrams;
        datagrams.reserve(outgoing_.size());
        for (const auto* bytes : outgoing_) datagrams.emplace_back(*bytes);
        const int error = connection.send_all(datagrams);
        for (auto* bytes : outgoing_) std::memset(bytes->data(), 0, bytes->size());
        outgoing_.clear();
        if (error) report_unreachable(invocation_, error);
        return error == 0;
    }

    // Reads answers until at most `keep` requests are in flight; false when the socket failed.
    bool drain(PfkeyConnection& connection, size_t keep) {
        std::vector<pfkey::Message> answers;
        while (in_flight_.size() > keep) {
            answers.clear();
            if (int error = connection.receive_available(PfkeyConnection::kAnswerTimeoutMs, &answers)) {
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
    uint32_t pid_ = static_cast<uint32_t>(getpid());
    uint32_t next_seq_ = 1;
    std::vector<Step> steps_;
    std::deque<InFlight> in_flight_;
    std::vector<std::vector<uint8_t>*> outgoing_;  // queued, not sent yet (already counted in in_flight_)
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
        Batch batch(invocation, force);
        if (file == "-") {
            if (!batch.parse(std::cin, "stdin")) return 1;
        } else {
            std::ifstream in(file);
            if (!in) {
                std::fprintf(stderr, "ipsec batch: cannot read %s: %s\n", file.c_str(), std::strerror(errno));
                return 1;
            }
            if (!batch.parse(in, file)) return 1;
        }
        return batch.run(*connection);
    };
    return plan;
}

}  // namespace kmod_sim::userland
