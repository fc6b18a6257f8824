"""Experiment harnesses and report renderers behind the results/ folders (run through examples/*.py).

pruning_sweep (task score vs block sparsity), student_report (the students' report), latency (CPU latency of
model folders), trim_score_effect (score effect of vocabulary trimming).
"""
