"""Z3 proofs of the gadget lemmas and of small whole models (``python -m verify.smt``).

``command`` is the command line; ``encode`` turns weights and forward passes into Z3 terms;
``gadgets`` states each gadget lemma (Lemmas C.1-C.6, C.13-C.18); ``models`` and ``istree`` the
whole-construction claims; ``precision`` the margin argument for the smallest p; ``plot`` draws it.
"""
