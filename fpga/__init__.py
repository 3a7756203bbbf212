"""vta.fpga"""
