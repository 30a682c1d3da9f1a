"""The Scrapy side of Trawl: settings, items, pipelines, middlewares and extensions."""
