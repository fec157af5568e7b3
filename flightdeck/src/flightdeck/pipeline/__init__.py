"""The delivery pipeline: the architecture's seven stages, on GitHub Actions and on one machine.

- `stages.py`: the stage list, defined once (the release workflow's jobs are checked against it);
- `runner.py`: runs the stages in order with one approval, records each stage, stops at a
  failure (the seam: a `StageAction` per stage, supplied by an engine's composition root,
  `engines/pipeline.py` for the local engine);
- `release.py`: the version and commit a run delivers;
- `build.py`: stage 2 on one machine (bundle, wheels, images when a builder exists);
- `summary.py`: the deployment summary (terminal, `$GITHUB_STEP_SUMMARY`, notifications).

The package sits beside rollout/ and backup/: it uses the provider families (the notifier) and
core, never a strategy or the backup engine, which reach it through the stage actions.
"""
