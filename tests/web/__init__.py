"""Tests of `trawl serve`: in-process (TestClient) and in a real browser."""
