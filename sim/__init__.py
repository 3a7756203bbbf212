"""vta.sim"""
