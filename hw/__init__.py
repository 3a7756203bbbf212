"""vta.hw"""
