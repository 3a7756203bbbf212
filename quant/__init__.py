"""vta.quant"""
