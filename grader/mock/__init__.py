"""Timed mock interviews: plan, clock, session state, report and history as plain functions."""
