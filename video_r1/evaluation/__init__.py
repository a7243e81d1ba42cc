"""Evaluation, chain-of-thought annotation and single-question inference.

- settings: `EvalSettings` (frames, pixels, decoding), shared CLI flags
- answering: `load_media`, `generate_answers` (one batched generate call, vision once per sample)
- summary: `score_output`, `summarize_lines`, `summarize_run`, `order_drop_table` (pure);
  benchmark_metrics: per-sample scores, MRA, the VSI-Bench figures (pure)
- runner: `EvalRun`, `evaluate` (resumable, sharded loop), `write_summary`; report:
  `markdown_report`; results: the per-sample file, run description (the lock: utils/lock.py)
- offline: `score_predictions` (outputs made elsewhere), `merge_shards`
- annotate: `video-r1 annotate`; infer: `video-r1 infer`; cli: `video-r1 eval`
"""
