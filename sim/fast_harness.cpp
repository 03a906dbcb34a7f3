// The NIC under Verilator with no Python in the loop: a job file in, a record of what came out.
//
// Built by sim/fast.py together with fast_io.h, which it generates for one NIC configuration
// (ports, data width, verdict width) from hw.top.NIC, so nothing here knows a port count or a
// field layout.  The job language and the output records are documented in sim/fast.py.
//
// One simulated cycle = inputs driven, eval with clk low (combinational outputs settle:
// tready, tvalid, verdict_valid), handshakes sampled, eval with clk high (the edge).  A beat
// moves when tvalid and tready are both high before the edge, as on the real bus.

#include <chrono>
#include <ctime>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "Vnic.h"
#include "verilated.h"
#include "fast_io.h"

namespace {

struct FrameSpec {
    uint64_t start;       // earliest first beat, in cycles after the traffic op began
    uint32_t data;        // index into payloads
    uint32_t port;
    bool tuser;
    int line;
};

enum OpKind { OP_RESET, OP_WRITE, OP_READ, OP_POLL, OP_WAIT, OP_TRAFFIC, OP_QUIET };

struct Op {
    OpKind kind;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    int line = 0;
};

struct RxState {
    std::vector<uint32_t> frames;   // indices into specs, in order
    size_t next = 0;                // next frame to start
    bool active = false;
    uint32_t frame = 0;             // frame being sent
    size_t offset = 0;              // bytes sent of it
    uint64_t offered = 0, first = 0;
    bool beat_valid = false;
};

struct OutState {
    std::vector<uint8_t> bytes;
    uint64_t first = 0;
    bool active = false;
};

struct AxilSample {
    bool awready, wready, bvalid, arready, rvalid;
    uint32_t rdata;
};

std::unique_ptr<Vnic> top;
const char* job_path = "job";
FILE* out = nullptr;
std::vector<std::string> payloads;
std::vector<FrameSpec> specs;
std::vector<Op> ops;
std::vector<RxState> rx(NIC_PORTS);
std::vector<OutState> outs(NIC_PORTS + 1);   // tx ports, then the host stream
AxilSample ax{};
uint64_t cycle = 0;
uint64_t limit = 100000000000ULL;
uint64_t traffic_start = 0;
bool traffic_on = false;
bool record_bytes = true;
bool activity = false;        // a beat or verdict moved this cycle
uint64_t sim_ns = 0;          // wall time spent simulating
uint64_t frames_in = 0;       // frames whose last beat went in
bool interactive = false;     // ops run as they arrive on stdin; reads answered on stdout

[[noreturn]] void fail(int line, const char* what, int code = 3) {
    if (out) fflush(out);
    if (line > 0)
        fprintf(stderr, "%s:%d: %s\n", job_path, line, what);
    else
        fprintf(stderr, "%s: %s\n", job_path, what);
    exit(code);
}

void hex_out(const uint8_t* data, size_t n) {
    static const char digits[] = "0123456789abcdef";
    char buf[512];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        buf[k++] = digits[data[i] >> 4];
        buf[k++] = digits[data[i] & 15];
        if (k == sizeof buf) { fwrite(buf, 1, k, out); k = 0; }
    }
    fwrite(buf, 1, k, out);
}

void drive_rx() {
    for (int p = 0; p < NIC_PORTS; p++) {
        RxState& s = rx[p];
        if (!s.active && traffic_on && s.next < s.frames.size()) {
            const FrameSpec& f = specs[s.frames[s.next]];
            if (traffic_start + f.start <= cycle) {
                s.active = true;
                s.frame = s.frames[s.next++];
                s.offset = 0;
                s.offered = cycle;
            }
        }
        if (!s.active) {
            rx_idle(top.get(), p);
            s.beat_valid = false;
            continue;
        }
        const FrameSpec& f = specs[s.frame];
        const std::string& data = payloads[f.data];
        uint8_t beat[DATA_BYTES] = {0};
        size_t n = data.size() - s.offset;
        if (n > DATA_BYTES) n = DATA_BYTES;
        memcpy(beat, data.data() + s.offset, n);
        uint64_t keep = n >= 64 ? ~0ULL : ((1ULL << n) - 1);
        bool last = s.offset + n >= data.size();
        rx_drive(top.get(), p, beat, keep, last, f.tuser);
        s.beat_valid = true;
    }
}

void sample_edge() {
    for (int p = 0; p < NIC_PORTS; p++) {
        RxState& s = rx[p];
        if (!s.beat_valid || !rx_ready(top.get(), p)) continue;
        activity = true;
        const FrameSpec& f = specs[s.frame];
        size_t size = payloads[f.data].size();
        if (s.offset == 0) s.first = cycle;
        size_t n = size - s.offset;
        if (n > DATA_BYTES) n = DATA_BYTES;
        s.offset += n;
        if (s.offset >= size) {
            fprintf(out, "F %u %d %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", s.frame, p,
                    s.offered, s.first, cycle);
            s.active = false;
            if (++frames_in % 16384 == 0) {     // progress for the caller's bar
                printf("frames %" PRIu64 "\n", frames_in);
                fflush(stdout);
            }
        }
    }
    for (int o = 0; o <= NIC_PORTS; o++) {
        if (!out_valid(top.get(), o)) continue;
        activity = true;
        OutState& s = outs[o];
        uint8_t beat[DATA_BYTES];
        uint64_t keep = 0;
        bool last = false;
        out_beat(top.get(), o, beat, &keep, &last);
        if (!s.active) { s.active = true; s.first = cycle; s.bytes.clear(); }
        for (int i = 0; i < DATA_BYTES; i++)
            if (keep >> i & 1) s.bytes.push_back(beat[i]);
        if (last) {
            if (o == NIC_PORTS)
                fprintf(out, "E host");
            else
                fprintf(out, "E %d", o);
            fprintf(out, " %" PRIu64 " %" PRIu64 " %zu ", s.first, cycle, s.bytes.size());
            if (record_bytes && !s.bytes.empty())
                hex_out(s.bytes.data(), s.bytes.size());
            else
                fputc('-', out);
            fputc('\n', out);
            s.active = false;
        }
    }
    if (top->verdict_valid) {
        activity = true;
        uint32_t words[VERDICT_WORDS];
        verdict_words(top.get(), words);
        fprintf(out, "V %" PRIu64 " ", cycle);
        for (int i = VERDICT_WORDS - 1; i >= 0; i--) fprintf(out, "%08x", words[i]);
        fputc('\n', out);
    }
    ax.awready = top->S_AXIL(awready);
    ax.wready = top->S_AXIL(wready);
    ax.bvalid = top->S_AXIL(bvalid);
    ax.arready = top->S_AXIL(arready);
    ax.rvalid = top->S_AXIL(rvalid);
    ax.rdata = top->S_AXIL(rdata);
}

// One clock cycle; `line` names the op that is waiting, for the cycle-limit message.
void step(int line) {
    if (cycle >= limit) {
        char msg[160];
        snprintf(msg, sizeof msg, "cycle limit of %" PRIu64 " reached", limit);
        fail(line, msg);
    }
    activity = false;
    drive_rx();
    top->clk = 0;
    top->eval();
    sample_edge();
    top->clk = 1;
    top->eval();
    cycle++;
}

void axil_write(uint32_t addr, uint32_t value, int line) {
    top->S_AXIL(awaddr) = addr;
    top->S_AXIL(awprot) = 0;
    top->S_AXIL(awvalid) = 1;
    top->S_AXIL(wdata) = value;
    top->S_AXIL(wstrb) = 0xF;
    top->S_AXIL(wvalid) = 1;
    top->S_AXIL(bready) = 1;
    bool b = false;
    while (!b) {
        step(line);
        if (top->S_AXIL(awvalid) && ax.awready) top->S_AXIL(awvalid) = 0;
        if (top->S_AXIL(wvalid) && ax.wready) top->S_AXIL(wvalid) = 0;
        if (ax.bvalid && !top->S_AXIL(awvalid) && !top->S_AXIL(wvalid)) b = true;
    }
    top->S_AXIL(bready) = 0;
}

uint32_t axil_read(uint32_t addr, int line) {
    top->S_AXIL(araddr) = addr;
    top->S_AXIL(arprot) = 0;
    top->S_AXIL(arvalid) = 1;
    top->S_AXIL(rready) = 1;
    while (true) {
        step(line);
        if (top->S_AXIL(arvalid) && ax.arready) top->S_AXIL(arvalid) = 0;
        if (ax.rvalid && !top->S_AXIL(arvalid)) break;
    }
    top->S_AXIL(rready) = 0;
    return ax.rdata;
}

bool traffic_pending() {
    for (const RxState& s : rx)
        if (s.active || s.next < s.frames.size()) return true;
    return false;
}

void run_op(const Op& op) {
    char msg[200];
    switch (op.kind) {
    case OP_RESET:
        // The NIC sees rst through a register (sim/fast.py, wrapper_text) that starts at 1:
        // rst falls one cycle early, so the NIC is reset on op.a edges (the first op.a of a
        // run; op.a - 1 for a later reset) and runs from the edge after, as if unregistered.
        top->rst = 1;
        for (uint64_t i = 0; i < op.a; i++) {
            if (i + 1 == op.a) top->rst = 0;
            step(op.line);
        }
        top->rst = 0;
        step(op.line);
        break;
    case OP_WRITE:
        axil_write((uint32_t)op.a, (uint32_t)op.b, op.line);
        break;
    case OP_READ: {
        uint32_t v = axil_read((uint32_t)op.a, op.line);
        fprintf(out, "R %d %" PRIu64 " %u\n", op.line, op.a, v);
        if (interactive) printf("R %u\n", v);
        break;
    }
    case OP_POLL: {
        uint64_t began = cycle;
        while (true) {
            uint32_t v = axil_read((uint32_t)op.a, op.line);
            if ((v & op.b) == op.c) {
                fprintf(out, "P %d %" PRIu64 " %u %" PRIu64 "\n", op.line, op.a, v,
                        cycle - began);
                if (interactive) printf("P %u\n", v);
                break;
            }
            if (cycle - began >= op.d) {
                snprintf(msg, sizeof msg, "poll 0x%" PRIx64 ": value 0x%x & mask 0x%" PRIx64
                         " never equalled 0x%" PRIx64 " within %" PRIu64 " cycles",
                         op.a, v, op.b, op.c, op.d);
                fail(op.line, msg);
            }
        }
        break;
    }
    case OP_WAIT:
        for (uint64_t i = 0; i < op.a; i++) step(op.line);
        break;
    case OP_TRAFFIC:
        traffic_on = true;
        traffic_start = cycle;
        fprintf(out, "T %" PRIu64 "\n", cycle);
        while (traffic_pending()) {
            if (cycle - traffic_start >= op.a) {
                snprintf(msg, sizeof msg, "traffic: frames still unsent after %" PRIu64
                         " cycles (the NIC holds tready low: is CTRL.enable set?)", op.a);
                fail(op.line, msg);
            }
            step(op.line);
        }
        break;
    case OP_QUIET: {
        uint64_t began = cycle, calm = 0;
        while (calm < op.a) {
            if (cycle - began >= op.b) {
                snprintf(msg, sizeof msg, "quiet: still active after %" PRIu64 " cycles",
                         op.b);
                fail(op.line, msg);
            }
            step(op.line);
            calm = activity ? 0 : calm + 1;
        }
        if (interactive) printf("Q %" PRIu64 "\n", cycle);
        break;
    }
    }
}

// ---- the job file --------------------------------------------------------------------------

uint64_t number(const char* text, int line, const char* what) {
    if (!text) {
        char msg[120];
        snprintf(msg, sizeof msg, "missing %s", what);
        fail(line, msg, 2);
    }
    char* end = nullptr;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 0);
    if (errno || *end || text[0] == '-') {
        char msg[160];
        snprintf(msg, sizeof msg, "%s: '%s' is not an unsigned number", what, text);
        fail(line, msg, 2);
    }
    return v;
}

int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void run_op(const Op& op);

// Batch: collect the ops to run after the whole file parsed.  Interactive: run each now.
void emit(const Op& op) {
    if (interactive) {
        run_op(op);
        fflush(out);            // the caller reads the records an op produced at once
        fflush(stdout);
    } else {
        ops.push_back(op);
    }
}

void parse(FILE* f) {
    std::vector<char> buf(1 << 16);
    std::string text;
    int line = 0;
    bool header = false, traffic = false;
    while (true) {
        text.clear();
        bool got = false;
        while (fgets(buf.data(), (int)buf.size(), f)) {
            got = true;
            text += buf.data();
            if (!text.empty() && text.back() == '\n') break;
        }
        if (!got) break;
        line++;
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
        size_t hash = text.find('#');
        if (hash != std::string::npos) text.resize(hash);
        std::vector<char*> w;
        std::vector<char> copy(text.begin(), text.end());
        copy.push_back(0);
        for (char* t = strtok(copy.data(), " \t"); t; t = strtok(nullptr, " \t")) w.push_back(t);
        if (w.empty()) continue;
        std::string cmd = w[0];
        auto arg = [&](size_t i) -> const char* { return i < w.size() ? w[i] : nullptr; };
        auto arity = [&](size_t n) {
            if (w.size() != n + 1) {
                char msg[160];
                snprintf(msg, sizeof msg, "'%s' takes %zu argument(s), not %zu", cmd.c_str(), n,
                         w.size() - 1);
                fail(line, msg, 2);
            }
        };
        if (!header) {
            if (cmd != "xdpnic-fast-job" || w.size() != 2 || std::string(w[1]) != "1")
                fail(line, "not a job file: the first line must be 'xdpnic-fast-job 1'", 2);
            header = true;
            continue;
        }
        Op op;
        op.line = line;
        if (cmd == "config") {
            arity(2);
            uint64_t ports = number(arg(1), line, "ports"), width = number(arg(2), line, "width");
            if (ports != NIC_PORTS || width != DATA_BYTES * 8) {
                char msg[200];
                snprintf(msg, sizeof msg, "job is for %" PRIu64 " ports x %" PRIu64
                         " bits; this harness was built for %d x %d", ports, width, NIC_PORTS,
                         DATA_BYTES * 8);
                fail(line, msg, 2);
            }
        } else if (cmd == "limit") {
            arity(1);
            limit = number(arg(1), line, "cycles");
        } else if (cmd == "bytes") {
            arity(1);
            std::string v = w[1];
            if (v != "on" && v != "off") fail(line, "bytes: 'on' or 'off'", 2);
            record_bytes = v == "on";
        } else if (cmd == "data") {
            arity(2);
            if (number(arg(1), line, "data id") != payloads.size())
                fail(line, "data ids must count up from 0", 2);
            std::string bytes;
            std::string hex = w[2];
            if (hex != "-") {
                if (hex.size() % 2) fail(line, "data: odd number of hex digits", 2);
                for (size_t i = 0; i < hex.size(); i += 2) {
                    int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
                    if (hi < 0 || lo < 0) fail(line, "data: not hexadecimal", 2);
                    bytes.push_back((char)(hi << 4 | lo));
                }
            }
            payloads.push_back(bytes);
        } else if (cmd == "frame") {
            arity(4);
            if (traffic && !interactive)
                fail(line, "frame after traffic: list every frame before it", 2);
            FrameSpec f;
            f.port = (uint32_t)number(arg(1), line, "port");
            f.start = number(arg(2), line, "start cycle");
            uint64_t id = number(arg(3), line, "data id");
            f.tuser = number(arg(4), line, "tuser") != 0;
            f.line = line;
            if (f.port >= NIC_PORTS) {
                char msg[120];
                snprintf(msg, sizeof msg, "port %u: the NIC has ports 0..%d", f.port,
                         NIC_PORTS - 1);
                fail(line, msg, 2);
            }
            if (id >= payloads.size()) {
                char msg[120];
                snprintf(msg, sizeof msg, "data id %" PRIu64 " is not defined above", id);
                fail(line, msg, 2);
            }
            f.data = (uint32_t)id;
            rx[f.port].frames.push_back((uint32_t)specs.size());
            specs.push_back(f);
        } else if (cmd == "reset") {
            arity(1);
            op.kind = OP_RESET;
            op.a = number(arg(1), line, "cycles");
            emit(op);
        } else if (cmd == "write") {
            arity(2);
            op.kind = OP_WRITE;
            op.a = number(arg(1), line, "offset");
            op.b = number(arg(2), line, "value");
            if (op.a >= 1u << 16 || op.a % 4)
                fail(line, "write: offset not a word in 0..0xfffc", 2);
            if (op.b > 0xFFFFFFFFu) fail(line, "write: value wider than 32 bits", 2);
            emit(op);
        } else if (cmd == "read") {
            arity(1);
            op.kind = OP_READ;
            op.a = number(arg(1), line, "offset");
            if (op.a >= 1u << 16 || op.a % 4) fail(line, "read: offset not a word in 0..0xfffc", 2);
            emit(op);
        } else if (cmd == "poll") {
            arity(4);
            op.kind = OP_POLL;
            op.a = number(arg(1), line, "offset");
            op.b = number(arg(2), line, "mask");
            op.c = number(arg(3), line, "value");
            op.d = number(arg(4), line, "cycles");
            if (op.a >= 1u << 16 || op.a % 4) fail(line, "poll: offset not a word in 0..0xfffc", 2);
            emit(op);
        } else if (cmd == "wait") {
            arity(1);
            op.kind = OP_WAIT;
            op.a = number(arg(1), line, "cycles");
            emit(op);
        } else if (cmd == "traffic") {
            arity(1);
            // Interactive: traffic may come in rounds (frames, traffic, quiet, ... again).
            if (traffic && !interactive) fail(line, "a second traffic op", 2);
            traffic = true;
            op.kind = OP_TRAFFIC;
            op.a = number(arg(1), line, "cycles");
            emit(op);
        } else if (cmd == "quiet") {
            arity(2);
            op.kind = OP_QUIET;
            op.a = number(arg(1), line, "quiet cycles");
            op.b = number(arg(2), line, "cycles");
            emit(op);
        } else if (cmd == "end" && interactive) {
            break;
        } else {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown op '%s'", cmd.c_str());
            fail(line, msg, 2);
        }
    }
    if (!header) fail(0, "empty job file", 2);
    if (!specs.empty() && !traffic) fail(0, "frames listed but no traffic op", 2);
}

}  // namespace

int main(int argc, char** argv) {
    // xdpnic_fast JOB OUT, or xdpnic_fast --interactive OUT (the job on stdin, op by op)
    if (argc == 3 && std::string(argv[1]) == "--interactive") {
        interactive = true;
        job_path = "stdin";
    } else if (argc == 3) {
        job_path = argv[1];
    } else {
        fprintf(stderr, "usage: %s JOB OUT | --interactive OUT\n", argv[0]);
        return 2;
    }
    FILE* f = interactive ? stdin : fopen(job_path, "r");
    if (!f) fail(0, "cannot open job file", 2);
    out = fopen(argv[2], "w");
    if (!out) {
        fprintf(stderr, "%s: cannot write\n", argv[2]);
        return 2;
    }
    static char obuf[1 << 20];
    setvbuf(out, obuf, _IOFBF, sizeof obuf);
    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(1, argv);
    top = std::make_unique<Vnic>(ctx.get());
    for (int p = 0; p < NIC_PORTS; p++) rx_idle(top.get(), p);
    top->clk = 0;
    top->rst = 0;
    top->eval();
    if (!interactive) {             // a bad job file fails before any cycle runs
        parse(f);
        fclose(f);
    }
    auto began = std::chrono::steady_clock::now();
    std::clock_t began_cpu = std::clock();
    if (interactive)
        parse(f);                   // runs each op as it arrives
    else
        for (const Op& op : ops) run_op(op);
    sim_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now() - began).count();
    // CPU time too: on a loaded machine it is the fair measure of the simulator's speed.
    uint64_t cpu_ns = (uint64_t)((double)(std::clock() - began_cpu) / CLOCKS_PER_SEC * 1e9);
    printf("frames %" PRIu64 "\n", frames_in);
    fprintf(out, "END %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", cycle, sim_ns, cpu_ns);
    fclose(out);
    top->final();
    top.reset();        // before its context goes
    return 0;
}
