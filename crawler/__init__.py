"""The Scrapy project and the application around it: settings, pipelines, middlewares, CLI."""
