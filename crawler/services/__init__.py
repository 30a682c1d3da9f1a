"""Plain functions over storage and matchers, shared by every interface (CLI, web, worker)."""
