"""Fuzzing kmzcodec: harness functions (plain Python), atheris entry points and a runner.

See fuzz/README.md. The harness functions in :mod:`fuzz.harnesses` need no atheris,
so tests/test_fuzz_replay.py replays the corpus through them on any Python.
"""
