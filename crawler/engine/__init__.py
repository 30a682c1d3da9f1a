"""The Scrapy parts: settings, items, spiders' helpers (scope, extraction), pipelines (hash ->
match -> store), middlewares, extensions, the hash-worker pool, and running a spider by name."""
