"""Tests of the ``certward`` command, run as a real process against real files."""
