// Cycle-accurate co-simulation harness for the Verilated VTA core (or any design with its top-level ports).
//
// Why C++: per-cycle work from Python is ~100x too slow for whole-network runs, so the DRAM/AXI slave model, the
// CSR driver and the clock loop all live here, and Python makes one call per run (`vh_run`). DRAM is the caller's
// own byte buffer (a numpy array's memory, zero copy).
//
// Built by vta.sim.build together with the Verilated model into one shared library. The build defines:
//   VH_TOP_HEADER   "Vvta_core.h"      VH_TOP_CLASS  Vvta_core        VH_BUS_BYTES  AXI data bytes per beat
//   and writes vh_gen.h: register offsets and bits (from vta.hw.regs, the single source of truth), the C++
//   member name of each top-level port (Verilator escapes the "__" of Amaranth's flattened port names), e.g.
//   VH_AXI_AR_ADDR for port axi__ar__addr, and the run ABI from vta.sim.harness_abi: the VH_* status codes and
//   the vh_params / vh_result structs (so the ctypes side and this side cannot disagree on them).
//
// C API (loaded with ctypes by vta/sim/verilator.py; every function takes the handle from vh_create):
//   void* vh_create(const char* fst_path_or_null)   a model instance (and its waveform file, on a tracing build)
//   int   vh_run(h, uint8_t* dram, uint64_t size, uint32_t insn_addr, uint32_t insn_count,
//                const vh_params*, vh_result*)     reset, write INSN_ADDR/INSN_COUNT/CTRL=launch, clock until done;
//                                                    returns VH_OK, VH_FAULT (the core rejected an instruction:
//                                                    Reg.FAULT/FAULT_INDEX), VH_AXI_ERROR (message: vh_error),
//                                                    VH_DEADLOCK (a token wait with no progress for stall_window
//                                                    cycles) or VH_TIMEOUT (max_cycles); DMA_BASE/DMA_LIMIT are
//                                                    written from vh_params before launch
//   uint32_t vh_csr_read(h, addr)                    a host register (combinational read)
//   const char* vh_error(h)                          the last AXI protocol error
//   int vh_bus_bytes(), vh_has_trace(); void vh_flush_trace(h), vh_destroy(h)
//   int vh_has_probe()                               1 when the design has the core's `probe` port (VH_HAS_PROBE)
//   void vh_trace_enable(h, int on)                  record probe changes in the following runs (off by default)
//   uint64_t vh_trace_count(h); void vh_trace_copy(h, vh_trace_record* dst)   the last run's records
//
// Clocking: each cycle is two evals. With clk low and the inputs of this cycle applied, the design's outputs are
// settled; the harness samples every valid/ready pair (the transfers of the coming edge), raises clk (registers
// update), updates the memory model, drives the next cycle's inputs and lowers clk (combinational logic settles).

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "verilated.h"
#include VH_TOP_HEADER
#include "vh_gen.h"
#if VM_TRACE_FST
#include "verilated_fst_c.h"
#endif

#ifndef VH_BUS_BYTES
#error "VH_BUS_BYTES must be defined by the build"
#endif

// Clock edges without Verilator's input-combinational ("ico") pass where it has nothing to do. Why: Verilator's
// eval() starts every call with that pass, recomputing all logic that reads a top-level input (on the default core
// ~16% of co-simulation time, two passes per cycle). It is redundant whenever no input but the clock changed since
// the model last settled: the logic it recomputes reads only inputs and state, and the nba phase after a clock edge
// already recomputes everything downstream of the state it changed, with the current inputs. The rising edge never
// follows an input change in the clock loop, and the falling edge does only when `drive` changed an input (during a
// GEMM or ALU run the bus is idle and nothing changes). Those evals run just the act/nba phases of Verilator's own
// eval() loop (the model's internal functions, declared here: a Verilator that renames them fails to link, it cannot
// silently differ). The FST-tracing build keeps the public eval() everywhere.
#define VH_CAT2(a, b) a##b
#define VH_CAT(a, b) VH_CAT2(a, b)
#define VH_ROOT VH_CAT(VH_TOP_CLASS, ___024root)
bool VH_CAT(VH_ROOT, ___eval_phase__act)(VH_ROOT*);
bool VH_CAT(VH_ROOT, ___eval_phase__nba)(VH_ROOT*);
void VH_CAT(VH_ROOT, ___eval)(VH_ROOT*);

namespace {

constexpr uint32_t BUS = VH_BUS_BYTES;
constexpr uint32_t MAX_OUTSTANDING = 16;  // read/write bursts the slave accepts before it drops ar/aw ready

struct Burst {
    uint64_t addr;      // address of the current beat (aligned down to the bus after the first beat)
    uint32_t beats;     // beats left
    uint32_t total;     // beats in the burst
    uint64_t ready_at;  // first cycle the slave may present (read) / answer (write response) this burst
};

// A fixed-size ring of bursts (no allocation in the cycle loop).
struct Ring {
    Burst q[MAX_OUTSTANDING];
    uint32_t head = 0, count = 0;
    bool full() const { return count == MAX_OUTSTANDING; }
    bool empty() const { return count == 0; }
    Burst& front() { return q[head]; }
    void push(const Burst& b) { q[(head + count++) % MAX_OUTSTANDING] = b; }
    void pop() { head = (head + 1) % MAX_OUTSTANDING; --count; }
    void clear() { head = count = 0; }
};

// Set an input port; returns whether its value changed.
template <typename T, typename V> inline bool put(T& sig, V v) {
    if (sig == T(v)) return false;
    sig = T(v);
    return true;
}

// Bus-wide signals are plain integers up to 64 bits and VlWide arrays above; copy bytes either way. put_bus returns
// whether the value changed.
template <typename T> inline bool put_bus(T& sig, const uint8_t* p) {
    T v = 0;
    std::memcpy(&v, p, BUS);
    return put(sig, v);
}
template <std::size_t N> inline bool put_bus(VlWide<N>& sig, const uint8_t* p) {
    if (std::memcmp(sig.data(), p, BUS) == 0) return false;
    std::memcpy(sig.data(), p, BUS);
    return true;
}
template <typename T> inline void get_bus(const T& sig, uint8_t* p) {
    T v = sig;
    std::memcpy(p, &v, BUS);
}
template <std::size_t N> inline void get_bus(const VlWide<N>& sig, uint8_t* p) { std::memcpy(p, sig.data(), BUS); }

// The probe port as 32-bit words (plain integer up to 64 bits, VlWide above).
template <typename T> inline void probe_words(const T& sig, uint32_t* w) {
    uint64_t v = sig;
    w[0] = uint32_t(v);
    if (VH_PROBE_WORDS > 1) w[1] = uint32_t(v >> 32);
}
template <std::size_t N> inline void probe_words(const VlWide<N>& sig, uint32_t* w) {
    static_assert(N <= VH_PROBE_WORDS, "the probe port is wider than VH_PROBE_WORDS words");
    std::memcpy(w, sig.data(), N * 4);
}

}  // namespace

struct Harness {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<VH_TOP_CLASS> top;
#if VM_TRACE_FST
    std::unique_ptr<VerilatedFstC> tfp;
#endif
    uint64_t time = 0;
    char error[512] = {0};

    // per-run memory model state
    uint8_t* dram = nullptr;
    uint64_t dram_size = 0;
    uint64_t cycle = 0;
    Ring rd, wr, bq;
    uint64_t rd_next_free = 0;  // cycle from which the R channel is free for the next burst
    vh_params p{};
    vh_result res{};

    // -- the trace probe: touched only when tracing (one predictable branch per cycle otherwise) ----------------
    bool tracing = false;
    std::vector<vh_trace_record> trace;

    // Record what the core and the bus do in the coming cycle (`rel`: cycles since launch) if it changed.
    void trace_sample(uint64_t rel) {
        vh_trace_record r{};
        r.cycle = rel;
        VH_TOP_CLASS* t = top.get();
        r.flags = ((t->VH_AXI_R_VALID && t->VH_AXI_R_READY) ? VH_TRACE_R_BEAT : 0) |
                  ((t->VH_AXI_W_VALID && t->VH_AXI_W_READY) ? VH_TRACE_W_BEAT : 0);
#ifdef VH_HAS_PROBE
        uint32_t w[VH_PROBE_WORDS] = {0};
        probe_words(t->probe, w);
        r.probe0 = w[0], r.probe1 = w[1], r.probe2 = w[2], r.probe3 = w[3];
#endif
        if (!trace.empty()) {
            const vh_trace_record& b = trace.back();
            if (b.flags == r.flags && b.probe0 == r.probe0 && b.probe1 == r.probe1 && b.probe2 == r.probe2 &&
                b.probe3 == r.probe3)
                return;
        }
        trace.push_back(r);
    }

    void dump() {
#if VM_TRACE_FST
        if (tfp) tfp->dump(time);
#endif
        ++time;
    }
#if VM_TRACE
    void eval_low(bool = true) { top->clk = 0; top->eval(); dump(); }
    void eval_high() { top->clk = 1; top->eval(); dump(); }
#else
    // `inputs_changed`: whether an input other than clk changed since the model last settled. The full eval is the
    // root's eval() without eval_step()'s per-call bookkeeping (a mutex for deferred deletes and the message queue
    // of threaded models; this design has neither).
    void eval_low(bool inputs_changed = true) {
        top->clk = 0;
        if (inputs_changed)
            VH_CAT(VH_ROOT, ___eval)(top->rootp);
        else
            clock_phases();
    }
    void eval_high() {
        top->clk = 1;
        clock_phases();
    }
    // Verilator's eval() loop minus the ico pass: triggers (the act phase also records clk for edge detection, so it
    // must run on the falling edge too) and the nba phase, until nothing is triggered.
    void clock_phases() {
        VH_ROOT* root = top->rootp;
        do {
            while (VH_CAT(VH_ROOT, ___eval_phase__act)(root)) {}
        } while (VH_CAT(VH_ROOT, ___eval_phase__nba)(root));
    }
#endif

    bool fail(const char* fmt, unsigned long long a, unsigned long long b, unsigned long long c) {
        std::snprintf(error, sizeof error, fmt, a, b, c);
        return false;
    }

    // Check one burst of `beats` beats at `addr`; on success push it to `ring`.
    bool accept(const char* dir, uint64_t addr, uint32_t len, uint32_t size, uint32_t burst, Ring& ring,
                uint64_t ready_at) {
        uint32_t beats = len + 1;
        if (burst != 1) {
            std::snprintf(error, sizeof error, "AXI %s burst at %#llx has BURST=%u; only INCR (1) is supported", dir,
                          (unsigned long long)addr, burst);
            return false;
        }
        if ((1u << size) != BUS) {
            std::snprintf(error, sizeof error,
                          "AXI %s burst at %#llx has SIZE=%u (%u bytes per beat); the %u-byte bus needs full-width "
                          "beats",
                          dir, (unsigned long long)addr, size, 1u << size, BUS);
            return false;
        }
        uint64_t end = (addr & ~uint64_t(BUS - 1)) + uint64_t(beats) * BUS;
        if ((addr >> 12) != ((end - 1) >> 12)) {
            std::snprintf(error, sizeof error,
                          "AXI %s burst of %u beats at %#llx covers bytes [%#llx, %#llx), crossing a 4 KiB boundary",
                          dir, beats, (unsigned long long)addr, (unsigned long long)addr, (unsigned long long)end);
            return false;
        }
        if (end > dram_size) {
            std::snprintf(error, sizeof error, "AXI %s of bytes [%llu, %llu) beyond the %llu-byte DRAM", dir,
                          (unsigned long long)addr, (unsigned long long)end, (unsigned long long)dram_size);
            return false;
        }
        ring.push(Burst{addr, beats, beats, ready_at});
        return true;
    }

    // Drive the slave-side inputs for the coming cycle from the model state; returns whether any of them changed.
    bool drive() {
        VH_TOP_CLASS* t = top.get();
        bool changed = put(t->VH_AXI_AR_READY, !rd.full());
        changed |= put(t->VH_AXI_AW_READY, !wr.full());
        bool rv = !rd.empty() && rd.front().ready_at <= cycle;
        changed |= put(t->VH_AXI_R_VALID, rv);
        if (rv) {
            Burst& b = rd.front();
            changed |= put_bus(t->VH_AXI_R_DATA, dram + (b.addr & ~uint64_t(BUS - 1)));
            changed |= put(t->VH_AXI_R_LAST, b.beats == 1);
        } else {
            changed |= put(t->VH_AXI_R_LAST, 0);
        }
        changed |= put(t->VH_AXI_R_RESP, 0);
        // Accept write data only for a burst whose address is known (AXI allows the slave to wait for AW).
        changed |= put(t->VH_AXI_W_READY, !wr.empty());
        changed |= put(t->VH_AXI_B_VALID, !bq.empty() && bq.front().ready_at <= cycle);
        changed |= put(t->VH_AXI_B_RESP, 0);
        return changed;
    }

    // One clock cycle. Returns false on a protocol error (message in `error`).
    bool tick() {
        VH_TOP_CLASS* t = top.get();
        // Transfers of this edge, sampled with clk low and inputs settled.
        bool ar = t->VH_AXI_AR_VALID && t->VH_AXI_AR_READY;
        uint64_t ar_addr = t->VH_AXI_AR_ADDR;
        uint32_t ar_len = t->VH_AXI_AR_LEN, ar_size = t->VH_AXI_AR_SIZE, ar_burst = t->VH_AXI_AR_BURST;
        bool r = t->VH_AXI_R_VALID && t->VH_AXI_R_READY;
        bool aw = t->VH_AXI_AW_VALID && t->VH_AXI_AW_READY;
        uint64_t aw_addr = t->VH_AXI_AW_ADDR;
        uint32_t aw_len = t->VH_AXI_AW_LEN, aw_size = t->VH_AXI_AW_SIZE, aw_burst = t->VH_AXI_AW_BURST;
        bool w = t->VH_AXI_W_VALID && t->VH_AXI_W_READY;
        bool w_last = t->VH_AXI_W_LAST;
        uint64_t strb = t->VH_AXI_W_STRB;
        alignas(8) uint8_t wdata[BUS];
        if (w) get_bus(t->VH_AXI_W_DATA, wdata);
        bool b = t->VH_AXI_B_VALID && t->VH_AXI_B_READY;

        eval_high();
        ++cycle;

        if (r) {
            Burst& f = rd.front();
            f.addr = (f.addr & ~uint64_t(BUS - 1)) + BUS;
            ++res.read_beats;
            if (--f.beats == 0) {
                rd.pop();
                // the next burst's data follows back to back if it is already due
            }
        }
        if (ar) {
            uint64_t ready = cycle + p.read_latency;
            if (!accept("read", ar_addr, ar_len, ar_size, ar_burst, rd, ready)) return false;
            ++res.read_bursts;
        }
        if (w) {
            Burst& f = wr.front();
            uint8_t* dst = dram + (f.addr & ~uint64_t(BUS - 1));
            if (strb == (BUS == 64 ? ~uint64_t(0) : ((uint64_t(1) << BUS) - 1))) {
                std::memcpy(dst, wdata, BUS);
            } else {
                for (uint32_t k = 0; k < BUS; ++k)
                    if ((strb >> k) & 1) dst[k] = wdata[k];
            }
            ++res.write_beats;
            bool last = f.beats == 1;
            if (w_last != last) {
                std::snprintf(error, sizeof error,
                              "AXI write burst of %u beats: WLAST was %s on beat %u (it must be set on the last beat "
                              "only)",
                              f.total, w_last ? "set" : "clear", f.total - f.beats + 1);
                return false;
            }
            f.addr = (f.addr & ~uint64_t(BUS - 1)) + BUS;
            if (--f.beats == 0) {
                wr.pop();
                bq.push(Burst{0, 0, 0, cycle + p.write_latency});
            }
        }
        if (aw) {
            if (!accept("write", aw_addr, aw_len, aw_size, aw_burst, wr, 0)) return false;
            ++res.write_bursts;
        }
        if (b) bq.pop();

        eval_low(drive());
        return true;
    }

    uint32_t csr_read(uint32_t addr) {
        top->VH_CSR_ADDR = addr;
        top->eval();
        uint32_t v = top->VH_CSR_R_DATA;
        return v;
    }

    bool csr_write(uint32_t addr, uint32_t data) {
        top->VH_CSR_ADDR = addr;
        top->VH_CSR_W_DATA = data;
        top->VH_CSR_W_EN = 1;
        top->eval();
        bool ok = tick();
        top->VH_CSR_W_EN = 0;
        top->VH_CSR_ADDR = VH_REG_CTRL;
        top->eval();
        return ok;
    }

    void reset() {
        rd.clear();
        wr.clear();
        bq.clear();
        top->rst = 1;
        top->VH_CSR_W_EN = 0;
        top->VH_CSR_ADDR = VH_REG_CTRL;
        top->VH_AXI_AR_READY = 0;
        top->VH_AXI_AW_READY = 0;
        top->VH_AXI_R_VALID = 0;
        top->VH_AXI_W_READY = 0;
        top->VH_AXI_B_VALID = 0;
        eval_low();
        for (int k = 0; k < 4; ++k) {
            eval_high();
            eval_low();
        }
        top->rst = 0;
        drive();
        eval_low();
    }
};

extern "C" {

int vh_bus_bytes() { return BUS; }

int vh_has_trace() { return VM_TRACE_FST; }

int vh_has_probe() {
#ifdef VH_HAS_PROBE
    return 1;
#else
    return 0;
#endif
}

void vh_trace_enable(void* hp, int on) { static_cast<Harness*>(hp)->tracing = on != 0; }

uint64_t vh_trace_count(void* hp) { return static_cast<Harness*>(hp)->trace.size(); }

void vh_trace_copy(void* hp, vh_trace_record* dst) {
    auto* h = static_cast<Harness*>(hp);
    if (!h->trace.empty()) std::memcpy(dst, h->trace.data(), h->trace.size() * sizeof(vh_trace_record));
}

void* vh_create(const char* trace_path) {
    auto* h = new Harness();
    h->ctx = std::make_unique<VerilatedContext>();
    h->ctx->randReset(0);
    h->top = std::make_unique<VH_TOP_CLASS>(h->ctx.get(), "top");
#if VM_TRACE_FST
    if (trace_path && *trace_path) {
        h->ctx->traceEverOn(true);
        h->tfp = std::make_unique<VerilatedFstC>();
        h->top->trace(h->tfp.get(), 99);
        h->tfp->open(trace_path);
    }
#else
    (void)trace_path;
#endif
    h->top->clk = 0;
    h->top->rst = 1;
    h->top->eval();
    return h;
}

void vh_destroy(void* hp) {
    auto* h = static_cast<Harness*>(hp);
#if VM_TRACE_FST
    if (h->tfp) h->tfp->close();
#endif
    h->top->final();
    delete h;
}

const char* vh_error(void* hp) { return static_cast<Harness*>(hp)->error; }

uint32_t vh_csr_read(void* hp, uint32_t addr) {
    auto* h = static_cast<Harness*>(hp);
    uint32_t v = h->csr_read(addr);
    h->csr_read(VH_REG_CTRL);
    return v;
}

void vh_flush_trace(void* hp) {
#if VM_TRACE_FST
    auto* h = static_cast<Harness*>(hp);
    if (h->tfp) h->tfp->flush();
#else
    (void)hp;
#endif
}

// Reset the design, launch the program, clock until done. DRAM is read and written in place.
int vh_run(void* hp, uint8_t* dram, uint64_t dram_size, uint32_t insn_addr, uint32_t insn_count,
           const vh_params* params, vh_result* out) {
    auto* h = static_cast<Harness*>(hp);
    h->error[0] = 0;
    h->dram = dram;
    h->dram_size = dram_size;
    h->p = *params;
    h->res = vh_result{};
    h->cycle = 0;
    h->reset();
    int status = VH_OK;
    if (!h->csr_write(VH_REG_INSN_ADDR, insn_addr) || !h->csr_write(VH_REG_INSN_COUNT, insn_count) ||
        !h->csr_write(VH_REG_DMA_BASE, h->p.dma_base) || !h->csr_write(VH_REG_DMA_LIMIT, h->p.dma_limit) ||
        !h->csr_write(VH_REG_CTRL, VH_CTRL_LAUNCH)) {
        status = VH_AXI_ERROR;
    }
    VH_TOP_CLASS* t = h->top.get();
    const uint64_t start = h->cycle;
    h->trace.clear();
    uint64_t last_progress = h->cycle;
    uint64_t last_beats = 0;
    uint32_t last_gemm = 0, last_alu = 0, last_work = 0;
    // Progress, sampled every 1024 cycles: an AXI beat, GEMM or ALU activity, or a stage executing rather than
    // waiting for a token (its busy count, which includes token stalls, grew by more than its stall count).
    while (status == VH_OK) {
        if (t->VH_CSR_R_DATA & VH_CTRL_DONE) {
            if (t->VH_CSR_R_DATA & VH_CTRL_FAULT) status = VH_FAULT;
            break;
        }
        if (h->tracing) h->trace_sample(h->cycle - start);
        if (!h->tick()) {
            status = VH_AXI_ERROR;
            break;
        }
        if ((h->cycle & 1023) == 0) {
            uint64_t beats = h->res.read_beats + h->res.write_beats;
            uint32_t gemm = h->csr_read(VH_REG_GEMM_ACTIVE);
            uint32_t alu = h->csr_read(VH_REG_ALU_ACTIVE);
            uint32_t wait = h->csr_read(VH_REG_WAIT);
            uint32_t work = (h->csr_read(VH_REG_LOAD_BUSY) - h->csr_read(VH_REG_LOAD_STALL)) +
                            (h->csr_read(VH_REG_COMPUTE_BUSY) - h->csr_read(VH_REG_COMPUTE_STALL)) +
                            (h->csr_read(VH_REG_STORE_BUSY) - h->csr_read(VH_REG_STORE_STALL));
            h->csr_read(VH_REG_CTRL);
            if (beats != last_beats || gemm != last_gemm || alu != last_alu || work != last_work || wait == 0) {
                last_progress = h->cycle;
                last_beats = beats;
                last_gemm = gemm;
                last_alu = alu;
                last_work = work;
            } else if (h->cycle - last_progress >= h->p.stall_window) {
                status = VH_DEADLOCK;
            }
            if (h->cycle - start >= h->p.max_cycles) status = VH_TIMEOUT;
        }
    }
    out->wait_bits = h->csr_read(VH_REG_WAIT);
    h->csr_read(VH_REG_CTRL);
    h->res.cycles = h->cycle - start;
    out->cycles = h->res.cycles;
    out->read_beats = h->res.read_beats;
    out->write_beats = h->res.write_beats;
    out->read_bursts = h->res.read_bursts;
    out->write_bursts = h->res.write_bursts;
#if VM_TRACE_FST
    if (h->tfp) h->tfp->flush();
#endif
    h->dram = nullptr;
    return status;
}

}  // extern "C"
