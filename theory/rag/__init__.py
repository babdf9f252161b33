"""Reference sequences of the RAG-RNN constructions (Thms 5.2-5.4), one module per task.

Each is written from the task's reference solver (the task's own solve, the edge list, the Turing
machine interpreter) and never from weights; the checkers then run the real regex retriever
(constructions.runtime.retrieve, Def A.5) on it and demand that it returns what the sequence says.
"""
