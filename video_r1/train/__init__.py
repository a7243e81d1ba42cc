"""The training core shared by the SFT and GRPO recipes.

What a recipe calls, in order (see `video_r1.recipes.sft` for a complete loop):

- `config`: `TrainConfig` sections (model, media, data, optim, checkpoint, logging);
  `load_config(cls, yaml, overrides)`, `format_config(cfg)`, `describe_config(cls)`.
- `setup`: `setup_accelerator(cfg, output_dir)` (backend from the accelerate config file).
- `model`: `prepare_model(cfg.model, checkpoint=None)`, `build_optimizer`, `build_scheduler`.
- `sampler`: `RecordSampler` (deterministic, rank-sharded; resuming needs only the step).
- `video_r1.media.record_media`: `load_record_media(record, cfg.media, cache)`,
  `make_frame_cache(cfg.media)`.
- `bad_samples`: `BadSamples` (`on_bad_sample: error|skip`, max bad fraction).
- `checkpoint`: `save_checkpoint`, `load_checkpoint`, `resolve_resume`, `find_latest_checkpoint`.
- `metrics_logger`: `MetricsLogger` (JSONL + trackers + progress bar), `reduce_sums`, `reduce_max`.
- `run`: `open_run` (`start_run` under the folder's lock) / `resume_state` / `open_logger` /
  `stop_on_signals` / `finish_run`, the frame around a recipe's loop; `run_folder`: one run per
  folder, no fresh start over a run, config checks on resume.

Submodules are imported explicitly (`from video_r1.train.config import ...`) so that importing
the config does not import accelerate or transformers.
"""
