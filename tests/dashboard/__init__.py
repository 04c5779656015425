"""Tests of the dashboard and the report: series, HTTP on loopback, a real headless browser."""
