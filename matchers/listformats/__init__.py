"""One module per known-hash list format; `matchers.lists` detects and dispatches."""
