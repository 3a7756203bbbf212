"""vta.jit"""
