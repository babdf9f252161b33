"""Linear RNNs without attention: Thm 4.1's log-space TM simulator, small test RNNs, and the compiler
from Linear RNNs to circuit RNNs (theory.circuit) that Thm 4.8's Transformer consumes."""
