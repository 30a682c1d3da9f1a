"""Services: plain functions over storage and matchers that every interface shares (the CLI
now, the web app and the worker next). Reads with no rule of their own call storage directly."""
