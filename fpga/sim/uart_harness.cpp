// Verilator harness for the whole FPGA design (`vta.fpga.top.FPGATop`: UART bridge + VTA core + block-RAM DRAM).
//
// Why: the end-to-end test drives the design exactly as a board is driven — through bytes on a UART — so the
// host driver (vta.fpga.SerialDevice) runs unchanged against it. Amaranth's Python simulator is far too slow for
// the whole core, so the clock loop and a byte-level UART model (8N1, DIVISOR cycles per bit) live here:
//   ub_write() queues bytes that the model shifts into the design's `rx` line;
//   ub_read() clocks the design until n bytes were decoded from its `tx` line or max_cycles have passed.
// Built by vta.fpga.cosim with the top module `fpga_top` (ports clk, rst, rx, tx, done, busy).

#include <cstdint>
#include <cstring>
#include <deque>

#include "verilated.h"
#include "Vfpga_top.h"

namespace {

struct Harness {
    VerilatedContext ctx;
    Vfpga_top top{&ctx};
    int divisor = 8;
    uint64_t cycles = 0;
    std::deque<uint8_t> to_device, from_device;
    // rx line driver: `drv_bits` bits left of `drv_frame` (LSB first), `drv_timer` cycles left of the current bit
    uint32_t drv_frame = 0x3FF;
    int drv_bits = 0, drv_timer = 0;
    // tx line monitor
    enum { IDLE, START, DATA, STOP } mon_state = IDLE;
    int mon_timer = 0, mon_bit = 0;
    uint8_t mon_byte = 0;
    uint64_t framing_errors = 0;

    void tick() {
        // drive rx for this cycle
        if (drv_timer == 0) {
            if (drv_bits == 0 && !to_device.empty()) {
                drv_frame = (1u << 9) | (uint32_t(to_device.front()) << 1);   // stop · data · start
                to_device.pop_front();
                drv_bits = 10;
            }
            if (drv_bits > 0) {
                top.rx = drv_frame & 1;
                drv_frame >>= 1;
                drv_bits--;
                drv_timer = divisor;
            } else {
                top.rx = 1;
            }
        }
        if (drv_timer > 0) drv_timer--;
        top.clk = 0;
        top.eval();
        top.clk = 1;
        top.eval();
        cycles++;
        // sample tx (registered output: stable after the edge)
        int tx = top.tx;
        switch (mon_state) {
        case IDLE:
            if (!tx) { mon_state = START; mon_timer = divisor / 2; }
            break;
        case START:
            if (--mon_timer <= 0) {
                if (tx) mon_state = IDLE;  // glitch
                else { mon_state = DATA; mon_timer = divisor; mon_bit = 0; mon_byte = 0; }
            }
            break;
        case DATA:
            if (--mon_timer <= 0) {
                mon_byte |= uint8_t(tx << mon_bit);
                mon_timer = divisor;
                if (++mon_bit == 8) mon_state = STOP;
            }
            break;
        case STOP:
            if (--mon_timer <= 0) {
                if (tx) from_device.push_back(mon_byte); else framing_errors++;
                mon_state = IDLE;
            }
            break;
        }
    }
};

}  // namespace

extern "C" {

void* ub_create(int divisor) {
    auto* h = new Harness;
    h->divisor = divisor;
    h->top.rx = 1;
    h->top.rst = 1;
    for (int i = 0; i < 8; i++) h->tick();
    h->top.rst = 0;
    for (int i = 0; i < 4; i++) h->tick();
    return h;
}

void ub_destroy(void* p) {
    auto* h = static_cast<Harness*>(p);
    h->top.final();
    delete h;
}

void ub_write(void* p, const uint8_t* data, size_t n) {
    auto* h = static_cast<Harness*>(p);
    h->to_device.insert(h->to_device.end(), data, data + n);
}

// Clock until `n` bytes arrived from the device or `max_cycles` passed; returns the number of bytes copied.
size_t ub_read(void* p, uint8_t* buf, size_t n, uint64_t max_cycles) {
    auto* h = static_cast<Harness*>(p);
    for (uint64_t c = 0; h->from_device.size() < n && c < max_cycles; c++) h->tick();
    size_t got = h->from_device.size() < n ? h->from_device.size() : n;
    for (size_t i = 0; i < got; i++) { buf[i] = h->from_device.front(); h->from_device.pop_front(); }
    return got;
}

// Clock `n` cycles (e.g. to let a write finish before reading nothing back).
void ub_step(void* p, uint64_t n) {
    auto* h = static_cast<Harness*>(p);
    for (uint64_t c = 0; c < n; c++) h->tick();
}

uint64_t ub_cycles(void* p) { return static_cast<Harness*>(p)->cycles; }
uint64_t ub_framing_errors(void* p) { return static_cast<Harness*>(p)->framing_errors; }
int ub_done(void* p) { return static_cast<Harness*>(p)->top.done; }

}  // extern "C"
