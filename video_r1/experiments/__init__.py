"""The project's measured experiments (each a `video-r1 experiment NAME` subcommand)."""
