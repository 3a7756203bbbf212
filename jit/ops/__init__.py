"""vta.jit.ops: the operators behind `vta.jit.Runtime`'s methods (one module per operator family)."""
