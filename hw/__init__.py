"""vta.hw: the VTA core in Amaranth HDL.

`vta.hw.core.VTACore` is the top level (AXI4 master + host register port); `vta.hw.export.generate_verilog` turns
it into Verilog. Blocks, one per module: `fetch`, `load`, `compute` (with `uop_loop`, `gemm`, `alu`), `store`,
`dep_queue`, `load_unit` / `dma_read` / `dma_write` / `burst` (DMA), `axi_arbiter`, `host_regs`; shared
interfaces in `interfaces` (external), `ports` (internal) and the register map in `regs`.
"""
